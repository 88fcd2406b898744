"""`slim prune rec`: sensitivity-guided filter pruning of a v2.0 CRNN
recognizer's MobileNetV3 backbone, fine-tuned by per-timestep KL
distillation from the unpruned network (no labels), gated on the word
accuracy of the compiled ARM `.nb`.

The pruning machinery is the detector's (slim/methods/pruning.py: PaddleSlim's
dygraph pruners, a cached per-unit scan, a FLOPs-targeted plan with channel
counts kept at multiples of 8); only the network rebuild, the score and
the distillation loss are the recognizer's.
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lite import paths
from lite.atomic import atomic_dir
from lite.errors import LiteError

from slim.data import rec_data, sources
from slim.families.model_source import load_rec
from slim.jobs.registry import PruneJob, register_prune
from slim.report.prune_rec_md import render
from slim.report.schema import write
from slim.recipe import RecPruneRecipe, load_rec_prune_recipe

SEED = 2024
HEIGHT = 32  # the v2.0 CRNNs' input height (PaddleOCR's rec_image_shape 3,32,320)


def clean_copy(net):
    """A fresh CRNN with the pruned network's channel counts and weights."""
    from slim.nets.cls_mobilenetv3 import widths_of
    from slim.nets.rec_crnn import CRNN
    from slim.methods.pruning import rebuilt

    return rebuilt(net, lambda shapes: CRNN(net.n_classes, net.hidden_size, se_slope=net.se_slope,
                                            widths=widths_of(shapes)), "pruned recognizer")


def net_texts(net, reader, charset, height: int, min_width: int = 320) -> list[str]:
    """The dygraph network's reading of every crop, batched as predict_rec pads them."""
    import paddle

    from lite.ocr.rec import batches, decode

    items = [(img, "") for img, _ in reader]
    texts = [""] * len(items)
    net.eval()
    with paddle.no_grad():
        for x, ids in batches(items, height, min_width, batch_size=64):
            for i, (t, _) in zip(ids, decode(net(paddle.to_tensor(x)).numpy(), charset)):
                texts[i] = t
    return texts


def net_accuracy(net, reader, charset, height: int, case_insensitive: bool = False) -> float:
    from lite.ocr.rec import word_metrics

    labels = [charset.encode(str(t))[0] for _, t in reader]
    return word_metrics(net_texts(net, reader, charset, height), labels, case_insensitive)["accuracy"]


def word_pool(charset, height: int, n: int, width: int = 320, calib: str | None = None) -> np.ndarray:
    """The distillation pool at one padded width: `n` real crops spread over
    `calib` (their text unused), else synthetic words (the calibration split)."""
    from lite.ocr.rec import preprocess
    from lite.readers import evenly

    from slim.data import sources
    from slim.data.rec_data import synthetic

    words = evenly(sources.crops(calib), n) if calib else synthetic(n, "calib", charset, height, width)
    return np.stack([preprocess(img, height, width) for img, _ in words])


def distill_rec(student, teacher, pool: np.ndarray, steps: int, batch_size: int, lr: float, ckpt_dir: Path,
                every: int = 100) -> dict:
    """KL(teacher || student) per timestep over the pool; BN statistics stay
    frozen (a synthetic pool must not move them); resumable from checkpoints."""
    import paddle
    import paddle.nn.functional as F

    from slim.methods.finetune import resumable_adam, train_steps

    paddle.seed(SEED)
    opt, sched, start = resumable_adam(student, lr, steps, ckpt_dir)
    teacher.eval()
    student.train()
    for layer in student.sublayers():
        if isinstance(layer, (paddle.nn.BatchNorm, paddle.nn.BatchNorm2D)):
            layer.eval()

    def loss_at(step):
        rng = np.random.RandomState(SEED + step)  # the batch depends only on the step: resumable
        x = paddle.to_tensor(pool[rng.choice(len(pool), min(batch_size, len(pool)), replace=False)])
        with paddle.no_grad():
            t = teacher(x)
        return (t * (paddle.log(t + 1e-8) - F.log_softmax(student(x), axis=2))).sum(axis=2).mean()

    train_steps(student, opt, sched, start, steps, ckpt_dir, every, loss_at)
    with paddle.no_grad():  # measured on fixed batches, so a resumed run reports the same figure
        final = float(np.mean([float(loss_at(s)) for s in range(max(steps - 4, 0), steps)])) if steps else None
    student.eval()
    return {"steps": steps, "resumed_from": start, "loss": final}


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _job_dir(recipe: RecPruneRecipe, name: str, source: str, calib: str | None = None) -> Path:
    """Cache dir of the sensitivity scan: the model, the data it scores on and
    the scan's own settings only, so a new FLOPs target or fine-tune reuses it."""
    p = Path(source)
    src = hashlib.sha256(p.read_bytes()).hexdigest()[:12] if p.is_file() else source
    pc = recipe.prune
    return paths.home() / "prune_rec" / f"{name}-{_key(src, pc.method, pc.ratios, pc.sensitivity_images, pc.input_size, str(calib or 'synthetic'))}"


def run(recipe: RecPruneRecipe, model: str | None = None, data: list[str] | str | None = None,
        out: str | None = None, images: str | None = None, calib: str | None = None) -> dict:
    """`data`: labelled gate crops (else the recipe's data.gate, else synthetic);
    `calib`: real crops for the scan (with their text) and the distillation pool."""
    t0 = time.time()
    source = model or recipe.model
    name, teacher = load_rec(source)
    charset = _charset(recipe, name, teacher)
    sets = _gate_sets(recipe, data, charset)
    calib = calib or recipe.data.calib
    if not calib:
        sources.fallback("word crops", "--calib", "calib")
    job = _job_dir(recipe, name, source, calib)
    job.mkdir(parents=True, exist_ok=True)
    student, plan, sens, ft_info = _prune_and_tune(recipe, teacher, charset, calib, job)
    with atomic_dir(Path(out or f"output/slim_prune_{name}")) as stage:
        report = _measure(recipe, stage, name, teacher, student, sets, charset)
        report.update(source=str(source), data={"calibration": calib or "synthetic", "calibration_real": bool(calib)},
                      pruning_plan=plan.to_json(), finetune=ft_info, seconds=round(time.time() - t0, 1))
        (stage / "sensitivity.json").write_text(json.dumps(sens, indent=1))
        write(stage, report, render)
    return report


def _charset(recipe: RecPruneRecipe, name: str, teacher):
    from lite.ocr.rec import charset_for

    from slim.families.zoo import MODELS

    dict_file = recipe.dictionary or getattr(MODELS.get(name), "dictionary", None)
    if not dict_file:
        raise LiteError(f"{name}: which dictionary does it use? Set `dictionary:` in the recipe")
    return charset_for(dict_file, teacher.n_classes, name)


def _gate_sets(recipe: RecPruneRecipe, data, charset) -> list:
    sets = [sources.crops(p) for p in ([data] if isinstance(data, str) else data or recipe.data.gate)]
    if not sets:
        sources.fallback("labelled word crops", "--data", "gate")
        sets = [rec_data.synthetic(recipe.eval.synthetic, "eval", charset, HEIGHT)]
    return sets


def _prune_and_tune(recipe: RecPruneRecipe, teacher, charset, calib: str | None, job: Path):
    """Scan (cached in `job`), plan for the FLOPs target, prune, distil: (student, plan, scan, fine-tune facts)."""
    from lite.readers import evenly

    from slim.methods.pruning import Pruner, plan_for_flops, sensitivity

    pc, ft = recipe.prune, recipe.finetune
    work = copy.deepcopy(teacher)
    pruner = Pruner(work, [1, 3, HEIGHT, pc.input_size], pc.method, rebuild=clean_copy)
    sens_set = (evenly(sources.crops(calib), pc.sensitivity_images) if calib
                else rec_data.synthetic(pc.sensitivity_images, "sens", charset, HEIGHT))
    sens = sensitivity(pruner, lambda: 100 * net_accuracy(work, sens_set, charset, HEIGHT), pc.ratios,
                       job / "sensitivity.json", desc="sensitivity (word accuracy per unit and ratio)")
    plan = plan_for_flops(pruner, sens, pc.flops_keep, pc.max_ratio, pc.align)
    pruner.apply(plan.ratios)
    student = clean_copy(work)
    pool = word_pool(charset, HEIGHT, ft.pool_size, pc.input_size, calib)
    ckpt = job / f"ckpt-{_key(plan.keep, asdict(ft))}"  # checkpoints belong to one plan and fine-tune
    return student, plan, sens, distill_rec(student, teacher, pool, ft.steps, ft.batch_size, ft.lr, ckpt,
                                            ft.checkpoint_every)


def _measure(recipe: RecPruneRecipe, stage: Path, name: str, teacher, student, sets: list, charset) -> dict:
    """Both networks exported, compiled, scored on the ARM `.nb` and counted side by side."""
    from lite.bench import compare
    from lite.evaluate import eval_rec_nb
    from lite.opt import opt

    from slim.families.model_source import export_inference
    from slim.methods.pruning import flops, params

    ev, shape = recipe.eval, [1, 3, HEIGHT, recipe.prune.input_size]
    nbs, scores = {}, {}
    for tag, net in (("float", teacher), ("pruned", student)):
        d = export_inference(net, stage / f"inference_{tag}", [None, 3, HEIGHT, None])
        nbs[tag] = opt(d, target="arm", out=stage / f"{name}_{tag}_arm.nb")
        scores[tag] = {}
        for s in sets:
            r = eval_rec_nb(str(nbs[tag]), s, charset, HEIGHT, target=ev.target, cpu=ev.cpu,
                            case_insensitive=ev.case_insensitive, desc=f"{tag} {s.name} on {ev.target}")
            scores[tag][s.name] = {"accuracy": r["value"], "norm_edit_dis": r["norm_edit_dis"], "size": r["size"]}
    total = {t: sum(v["accuracy"] * v["size"] for v in scores[t].values()) / sum(v["size"] for v in scores[t].values())
             for t in scores}
    cost = compare(str(nbs["float"]), str(nbs["pruned"]), target=ev.target, repeats=1,
                   shapes={"x": tuple(ev.bench_shape)}, cpu=ev.cpu)
    drop = 100 * (total["float"] - total["pruned"])
    side = {t: {"metric_value": total[t], "per_set": scores[t], "nb_bytes_arm": nbs[t].stat().st_size,
                "instructions_per_run": cost["ab"[i]]["instructions_per_run"]} for i, t in enumerate(("float", "pruned"))}
    size = sum(len(s) for s in sets)
    fl = {"float": flops(teacher, shape), "pruned": flops(student, shape)}
    return {
        "model": name, "task": "rec", "kind": "prune", "metric": "accuracy", "cpu": ev.cpu,
        "eval_set": {"name": "+".join(s.name for s in sets), "parts": {s.name: len(s) for s in sets}, "size": size,
                     "gate_set": "+".join(s.name for s in sets), "gate_size": size, "unit": "words",
                     "synthetic": [s.name for s in sets if s.name.startswith("synthetic")]},
        "rec": {"dictionary": charset.source, "classes": len(charset), "use_space": charset.use_space,
                "height": HEIGHT, "min_width": 320},
        "baseline": side["float"], "slim": side["pruned"], "flops": fl,
        "params": {"float": params(teacher), "pruned": params(student)}, "drop_points": drop,
        "budget_drop_points": ev.max_drop_points, "passed": drop <= ev.max_drop_points,
        "ratios": {"flops": fl["pruned"] / fl["float"], "nb_bytes": side["pruned"]["nb_bytes_arm"] / side["float"]["nb_bytes_arm"],
                   "instructions": cost["ratio"]}}


def summary(r: dict) -> str:
    b, s = r["baseline"], r["slim"]
    return (f"{r['model']}: FLOPs x{r['ratios']['flops']:.3f}, .nb x{r['ratios']['nb_bytes']:.3f}, ARM instructions "
            f"x{r['ratios']['instructions']:.3f} ({r['cpu']}); word accuracy on the ARM .nb {s['metric_value']:.4f} "
            f"vs {b['metric_value']:.4f} (drop {r['drop_points']:+.2f} points, budget {r['budget_drop_points']}); "
            f"{r['seconds']} s")


def failure(r: dict) -> str:
    return (f"the pruned .nb lost {r['drop_points']:.2f} points of word accuracy (budget {r['budget_drop_points']}); "
            "raise prune.flops_keep or finetune.steps in the recipe")


register_prune(PruneJob("rec", "rec_prune.yaml", load_rec_prune_recipe, run, summary, failure))
