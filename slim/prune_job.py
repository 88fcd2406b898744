"""`slim prune det_mobile`: sensitivity-guided filter pruning of the DB text
detector, distillation fine-tune, then both models compiled and measured
side by side: hmean on the ARM `.nb` (emulated) and on x86, ARM
instructions, x86 latency. The report carries the plan and the official
pruned model as a reference.

Work that takes minutes (sensitivity scan, fine-tune checkpoints, float
`.nb` scores) lives in <cache>/jobs/<model + settings>/, so a rerun of an
interrupted job resumes."""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lite.atomic import atomic_dir, atomic_path, write_bytes
from lite.bench import compare
from lite.evaluate import eval_det_inference, eval_det_nb
from lite.ocr.det import hmean
from lite.opt import opt
from lite.paths import home, shared_dir

from .data import det_data
from .model_source import export_inference, load_det
from .recipe import PruneRecipe

REFERENCE = "ch_ppocr_mobile_v2.0_det_prune"


def _log(msg: str) -> None:
    tqdm.write(msg, file=sys.stderr)


def eval_sets(recipe: PruneRecipe, data: str | None) -> list:
    return det_data.eval_sets(data, recipe.eval.synthetic, recipe.prune.input_size)


def net_hmean(net, items: list, limit_side_len: int = 960, batch: int = 16) -> float:
    """hmean of a dygraph detector; same-sized images go through in batches."""
    import paddle

    from lite.ocr.det import preprocess

    net.eval()
    xs = [preprocess(img, limit_side_len)[0] for img, _ in items]
    maps: list = [None] * len(xs)
    by_shape: dict = {}
    for i, x in enumerate(xs):
        by_shape.setdefault(x.shape, []).append(i)
    with paddle.no_grad():
        for idx in by_shape.values():
            for j in range(0, len(idx), batch):
                part = idx[j:j + batch]
                out = net(paddle.to_tensor(np.concatenate([xs[i] for i in part]))).numpy()
                for k, i in enumerate(part):
                    maps[i] = out[k:k + 1, :1]
    return hmean(items, maps)["hmean"]


def _job_dir(net) -> Path:
    """One cache folder per model (by its weights); files inside are keyed by
    the settings they depend on, so changing the FLOPs target reuses the scan."""
    h = hashlib.sha256()
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(np.ascontiguousarray(v.numpy()).tobytes())
    d = home() / "jobs" / f"prune-{h.hexdigest()[:16]}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def clean_copy(net):
    """A fresh DBNet with the pruned network's channel counts and weights (no
    PaddleSlim backup buffers, depthwise groups set by construction)."""
    from .nets.det_db import DBNet, widths_of
    from .pruning import rebuilt

    return rebuilt(net, lambda shapes: DBNet(widths_of(shapes), with_thresh=net.head.with_thresh))


def reference_model() -> dict | None:
    """The official pruned detector, when ../shared has it: FLOPs, params, and the network."""
    f = shared_dir() / "models" / REFERENCE / "model.onnx"
    if not f.is_file():
        return None
    from .nets.det_db import DBNet, widths_from_list
    from .nets.weights import load_weights, read_weights

    src = read_weights(f)
    net = DBNet(widths_from_list(src), with_thresh=True)
    load_weights(net, f, REFERENCE, src)
    net.eval()
    return {"name": REFERENCE, "net": net, "source": str(f)}


def prune(recipe: PruneRecipe, teacher, job: Path) -> tuple[object, dict]:
    """Sensitivity -> plan -> pruned network (not yet fine-tuned)."""
    import copy

    from .pruning import Pruner, plan_for_flops, sensitivity

    size = recipe.prune.input_size
    shape = [1, 3, size, size]
    work = copy.deepcopy(teacher)
    # FLOPs are counted on the network as it will be exported (a fresh DBNet), not the masked one
    pruner = Pruner(work, shape, recipe.prune.method, rebuild=clean_copy)
    sens_set = det_data.synthetic(recipe.prune.sensitivity_images, "sens", (size, size)).items
    pc = recipe.prune
    sens_file = job / f"sensitivity-{_key(pc.method, pc.sensitivity_images, pc.input_size)}.json"
    sens = sensitivity(pruner, lambda: net_hmean(work, sens_set), pc.ratios, sens_file,
                       desc=f"sensitivity ({len(pruner.units)} units x {len(recipe.prune.ratios)} ratios)")
    plan_file = job / f"plan-{_key(asdict(pc), 'head-up')}.json"
    if plan_file.is_file():
        plan = json.loads(plan_file.read_text())
    else:
        _log(f"planning for FLOPs <= {recipe.prune.flops_keep:.2f}x")
        p = plan_for_flops(pruner, sens, recipe.prune.flops_keep, recipe.prune.max_ratio, recipe.prune.align)
        plan = p.to_json()
        write_bytes(plan_file, json.dumps(plan, indent=1).encode())
    ratios = {u["unit"]: u["ratio"] for u in plan["units"] if u["keep"] < u["channels"]}
    # A fresh copy and pruner: PaddleSlim's channel choice for the head's transposed
    # convs was seen to depend on earlier apply/restore cycles (the scan, the plan),
    # so a run that computed them and one that read them from the cache differed.
    final = copy.deepcopy(teacher)
    Pruner(final, shape, recipe.prune.method).apply(ratios)
    return clean_copy(final), {"plan": plan, "sensitivity": sens}


def finetune(recipe: PruneRecipe, teacher, student, job: Path) -> dict:
    from .distill import distill, shrink_map, teacher_maps

    ft = recipe.finetune
    size = recipe.prune.input_size
    pool = det_data.synthetic(ft.pool_size, "pool", (size, size)).items
    images = np.stack([img for img, _ in pool])
    targets_file = job / f"teacher-{_key(ft.pool_size, size)}.npy"
    if targets_file.is_file():
        targets = np.load(targets_file)
    else:
        targets = teacher_maps(teacher, images)
        with atomic_path(targets_file, suffix=".npy") as tmp:
            np.save(tmp, targets)
    labels = np.stack([shrink_map(gt, size, size) for _, gt in pool]) if ft.label_weight > 0 else None
    ckpt = job / f"checkpoints-{_key(asdict(recipe.prune), asdict(ft), 'fresh-pruner')}"
    return distill(student, targets, images, ft.steps, ft.batch_size, ft.lr, ckpt,
                   ft.checkpoint_every, labels, ft.label_weight)


def pruned_network(recipe: PruneRecipe, model: str) -> tuple[str, object, object, dict]:
    """(name, the float network, the pruned and fine-tuned one, info): the
    scan, plan and fine-tune come from the job cache when a run made them."""
    name, teacher = load_det(model)
    job = _job_dir(teacher)
    _log(f"{name}: job cache {job}")
    student, info = prune(recipe, teacher, job)
    info.update(finetune=finetune(recipe, teacher, student, job), job=job)
    return name, teacher, student, info


def _measure_nb(nb: Path, sets: list, recipe: PruneRecipe, label: str, cache: Path | None) -> dict:
    """hmean per set on the ARM `.nb`; the float model's is cached (a rerun skips it)."""
    # keyed by the job (one per model weights), not by the .nb's bytes: an exported
    # program's variable names depend on how many layers the process built before
    key = label + "-" + _key([f"{s.name}{len(s)}" for s in sets], recipe.eval.limit_side_len, recipe.eval.target)
    if cache is not None and (cache / f"nb-{key}.json").is_file():
        return json.loads((cache / f"nb-{key}.json").read_text())
    out = {}
    for s in sets:
        r = eval_det_nb(str(nb), s, target=recipe.eval.target, limit_side_len=recipe.eval.limit_side_len,
                        desc=f"{label} .nb on ARM: {s.name}")
        out[s.name] = {k: r[k] for k in ("hmean", "precision", "recall", "matched", "gt", "det")}
    if cache is not None:
        write_bytes(cache / f"nb-{key}.json", json.dumps(out).encode())
    return out


def run(recipe: PruneRecipe, model: str | None = None, data: str | None = None, out: str | None = None) -> dict:
    from .pruning import flops, params

    t0 = time.time()
    sets = eval_sets(recipe, data)
    name, teacher, student, info = pruned_network(recipe, model or recipe.model)
    job, ft = info["job"], info["finetune"]
    size = recipe.prune.input_size
    shape = [1, 3, size, size]
    out_dir = Path(out or f"output/slim_prune_{name}")
    with atomic_dir(out_dir) as stage:
        nbs = {}
        for tag, net in (("float", teacher), ("pruned", student)):
            d = export_inference(net, stage / f"inference_{tag}", [None, 3, None, None])
            nbs[tag] = {"dir": d, "arm": opt(d, target="arm", out=stage / f"{name}_{tag}_arm.nb"),
                        "x86": opt(d, target="x86", out=stage / f"{name}_{tag}_x86.nb")}
        ref = reference_model()
        report = _evaluate(recipe, sets, nbs, ref, job)
        report.update(model=name, task="det", metric="hmean", pruning_plan=info["plan"], finetune=ft,
                      flops_input=shape, seconds=round(time.time() - t0, 1),
                      params={"float": params(teacher), "pruned": params(student)},
                      flops={"float": flops(teacher, shape), "pruned": flops(student, shape)})
        if ref is not None:
            report["reference"].update(flops=flops(ref["net"], shape), params=params(ref["net"]))
        report["ratios"]["flops"] = report["flops"]["pruned"] / report["flops"]["float"]
        _charts(report, info["sensitivity"], stage)
        (stage / "sensitivity.json").write_text(json.dumps(info["sensitivity"], indent=1))
        (stage / "report.json").write_text(json.dumps(report, indent=2))
        (stage / "report.md").write_text(render_md(report))
    return report


def _evaluate(recipe, sets, nbs, ref, job) -> dict:
    per = {}
    for tag in ("float", "pruned"):
        arm = _measure_nb(nbs[tag]["arm"], sets, recipe, tag, job if tag == "float" else None)
        per[tag] = {s.name: {"nb_arm": arm[s.name],
                             "nb_x86": eval_det_nb(str(nbs[tag]["x86"]), s, target="x86",
                                                   limit_side_len=recipe.eval.limit_side_len,
                                                   desc=f"{tag} .nb on x86: {s.name}")["hmean"],
                             "inference": eval_det_inference(str(nbs[tag]["dir"]), s,
                                                             recipe.eval.limit_side_len)["hmean"]}
                    for s in sets}
    synth = sets[0].name
    shapes = {"x": tuple(recipe.eval.bench_shape)}
    _log("ARM instructions per inference (float vs pruned)")
    cost = compare(str(nbs["float"]["arm"]), str(nbs["pruned"]["arm"]), target=recipe.eval.target, repeats=1,
                   shapes=shapes, cpu=recipe.eval.cpu)
    lat = compare(str(nbs["float"]["x86"]), str(nbs["pruned"]["x86"]), target="x86", repeats=30, shapes=shapes)

    def side(tag, c, lt):
        return {"metric_value": per[tag][synth]["nb_arm"]["hmean"], "per_set": per[tag],
                "nb_bytes_arm": nbs[tag]["arm"].stat().st_size, "nb_bytes_x86": nbs[tag]["x86"].stat().st_size,
                "instructions_per_run": c["instructions_per_run"], "latency_ms": lt["latency_ms"]}

    drop = 100 * (per["float"][synth]["nb_arm"]["hmean"] - per["pruned"][synth]["nb_arm"]["hmean"])
    report = {
        "eval_set": {"name": "+".join(s.name for s in sets), "size": sum(len(s) for s in sets),
                     "parts": {s.name: len(s) for s in sets}, "skipped_images": sum(s.skipped for s in sets),
                     "gate_set": synth, "limit_side_len": recipe.eval.limit_side_len},
        "cpu": recipe.eval.cpu, "budget_drop_points": recipe.eval.max_drop_points,
        "baseline": side("float", cost["a"], lat["a"]), "slim": side("pruned", cost["b"], lat["b"]),
        "drop_points": drop, "passed": drop <= recipe.eval.max_drop_points + 1e-9,
        "ratios": {"instructions": cost["ratio"], "latency_x86": lat["ratio"],
                   "x86_speedup": 1 / lat["ratio"] if lat["ratio"] else None,
                   "nb_bytes": nbs["pruned"]["arm"].stat().st_size / nbs["float"]["arm"].stat().st_size},
        "reference": {},
    }
    if ref is not None:
        report["reference"] = {"name": ref["name"], "source": ref["source"],
                               "hmean_dygraph": {s.name: net_hmean(ref["net"], s.items, recipe.eval.limit_side_len)
                                                 for s in sets}}
    return report


def _charts(report: dict, sens: dict, stage: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for unit, curve in sens.items():
        xs = sorted(curve, key=float)
        ax.plot([float(x) for x in xs], [100 * curve[x] for x in xs], marker=".", lw=1,
                label=unit.replace(".weight", "").replace("backbone.", ""))
    ax.set_xlabel("share of filters pruned")
    ax.set_ylabel("hmean drop (points)")
    ax.set_title(f"{report['model']}: sensitivity per unit")
    ax.legend(fontsize=5, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(stage / "sensitivity.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    synth = report["eval_set"]["gate_set"]
    pts = [("float", report["flops"]["float"], report["baseline"]["metric_value"]),
           ("pruned", report["flops"]["pruned"], report["slim"]["metric_value"])]
    ref = report.get("reference") or {}
    if "flops" in ref:
        pts.append(("official pruned", ref["flops"], ref["hmean_dygraph"][synth]))
    for label, f, h in pts:
        ax.scatter(f / 1e6, h)
        ax.annotate(label, (f / 1e6, h), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel(f"FLOPs (M, input {report['flops_input'][2]}x{report['flops_input'][3]})")
    ax.set_ylabel(f"hmean ({synth})")
    fig.tight_layout()
    fig.savefig(stage / "accuracy_vs_flops.png", dpi=110)
    plt.close(fig)


def render_md(r: dict) -> str:
    b, s = r["baseline"], r["slim"]
    synth = r["eval_set"]["gate_set"]
    ref = r.get("reference") or {}
    lines = [
        f"# slim prune: {r['model']}",
        "",
        f"Eval: {', '.join(f'{k} ({v})' for k, v in r['eval_set']['parts'].items())}; long side <= "
        f"{r['eval_set']['limit_side_len']}. hmean measured on the ARM `.nb` (emulated {r['cpu']}); "
        f"gate: drop on {synth} <= {r['budget_drop_points']} points: **{'PASS' if r['passed'] else 'FAIL'}** "
        f"({r['drop_points']:+.2f}).",
        "",
        "| | float | pruned | ratio |" + (" official pruned |" if ref else ""),
        "|---|---|---|---|" + ("---|" if ref else ""),
        f"| FLOPs ({r['flops_input'][2]}x{r['flops_input'][3]}) | {r['flops']['float']:,} | {r['flops']['pruned']:,} | "
        f"{r['ratios']['flops']:.3f} |" + (f" {ref.get('flops', 0):,} |" if ref else ""),
        f"| params | {r['params']['float']:,} | {r['params']['pruned']:,} | "
        f"{r['params']['pruned'] / r['params']['float']:.3f} |" + (f" {ref.get('params', 0):,} |" if ref else ""),
    ]
    for name in b["per_set"]:
        row = f"| hmean {name} (ARM .nb) | {b['per_set'][name]['nb_arm']['hmean']:.4f} | " \
              f"{s['per_set'][name]['nb_arm']['hmean']:.4f} | |"
        if ref:
            row += f" {ref['hmean_dygraph'][name]:.4f} (dygraph) |"
        lines.append(row)
    lines += [
        f"| .nb bytes (ARM) | {b['nb_bytes_arm']:,} | {s['nb_bytes_arm']:,} | {r['ratios']['nb_bytes']:.3f} |"
        + (" |" if ref else ""),
        f"| ARM instructions / inference | {b['instructions_per_run']:,} | {s['instructions_per_run']:,} | "
        f"{r['ratios']['instructions']:.3f} |" + (" |" if ref else ""),
        f"| x86 latency ms (median, 1 thread) | {b['latency_ms']['median']:.2f} | {s['latency_ms']['median']:.2f} | "
        f"{r['ratios']['latency_x86']:.3f} |" + (" |" if ref else ""),
        "",
        "hmean on x86 `.nb` / Paddle Inference: " + "; ".join(
            f"{n}: float {b['per_set'][n]['nb_x86']:.4f} / {b['per_set'][n]['inference']:.4f}, pruned "
            f"{s['per_set'][n]['nb_x86']:.4f} / {s['per_set'][n]['inference']:.4f}" for n in b["per_set"]),
        "",
        f"Fine-tune: {r['finetune']['steps']} distillation steps (resumed from {r['finetune']['resumed_from']}), "
        f"final loss {r['finetune']['loss']}. Whole job {r['seconds']} s.",
        "",
        "![sensitivity](sensitivity.png) ![accuracy vs FLOPs](accuracy_vs_flops.png)",
        "",
        f"## Pruning plan (predicted drop {100 * r['pruning_plan']['predicted_drop']:.2f} points)",
        "",
        "| unit | channels | kept | ratio |",
        "|---|---|---|---|",
    ]
    for u in r["pruning_plan"]["units"]:
        lines.append(f"| {u['unit']} | {u['channels']} | {u['keep']} | {u['ratio']:.2f} |")
    return "\n".join(lines) + "\n"
