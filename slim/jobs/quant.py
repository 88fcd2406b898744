"""`slim quant TASK`: PTQ with a calibration-algorithm search, then (only if no
candidate keeps the accuracy budget) mixed precision, QAT with PACT and, where
the recipe enables it, int8 weights with float arithmetic; every candidate is
gated on the accuracy of its compiled ARM `.nb` itself."""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from lite.atomic import atomic_dir, write_bytes
from lite.bench import bench, compare
from lite.errors import LiteError
from lite.nbfile import read_nb
from lite.opt import opt
from lite.paths import home
from lite.readers import ListReader, evenly

from slim.methods.compile import compile_arm, prepare
from slim.jobs.cache import job_cache, sets_digest
from slim.methods.mixed import mixed
from slim.methods.ptq import quant_post_static
from slim.families.base import Family, get_family
from slim.jobs.stages import pruned_source
from slim.recipe import QuantRecipe, parse_algo
from slim.workers import log as _log


class _Gate:
    """The metric of a candidate's ARM `.nb` on the gate subset (an evenly
    spread subset of the pooled gate sets, `gate.nb_subset`; all of it when
    0), against the float model's on the same items. The float model is
    scored through its x86 `.nb` (float `.nb` files agree with the ARM one:
    tests), so emulated ARM time goes to the int8 candidates alone."""

    def __init__(self, recipe: QuantRecipe, task: Family, reader: ListReader):
        self.recipe, self.task, self.reader = recipe, task, reader
        self.base = None
        self.log: list[dict] = []

    def measure(self, nb: Path, label: str, target: str | None = None) -> float:
        target = target or self.recipe.gate.target
        return self.task.score_nb(str(nb), self.reader, self.recipe, target, f"{label} .nb on {target}: {self.reader.name}")

    def check(self, cand: dict) -> bool:
        value = self.measure(Path(cand["nb"]), cand["algo"])
        drop = self.base - value
        ok = drop <= self.recipe.gate.max_drop_points / 100.0 + 1e-12
        self.log.append({"algo": cand["algo"], "float_layers": cand.get("float_layers", []),
                         "accuracy_nb_arm": value, "drop_points": 100 * drop, "passed": ok})
        _log(f"  gate {cand['algo']}: ARM .nb {self.task.metric} {value:.4f} on {len(self.reader)} {self.task.unit}, "
             f"drop {100 * drop:+.2f} points" + ("" if ok else " (over budget)"))
        cand["accuracy_nb_arm"] = value
        return ok


def _float_baseline(model_dir: Path, name: str, stage: Path, gate: _Gate, sets: list, rank: ListReader,
                    cache: Path) -> dict:
    """Float `.nb` files and their scores through the x86 `.nb`: on the gate
    subset and on every eval set in full (cached in `cache`, per weights and
    eval sets); needs only the float model, so it runs beside the PTQ search
    (in a thread: no paddle calls here, its static/dygraph mode is per thread)."""
    r = gate.recipe
    float_arm = opt(model_dir, target="arm", out=stage / f"{name}_float_arm.nb")
    float_x86 = opt(model_dir, target="x86", out=stage / f"{name}_float_x86.nb")
    if cache.is_file():
        acc, per = json.loads(cache.read_text())
    else:
        per = {s.name: gate.task.score_nb(str(float_x86), s, r, "x86", f"float .nb on x86: {s.name}")
               for s in ([rank] if rank.name not in [x.name for x in sets] else []) + sets}
        # the gate subset is often a whole set (nb_subset 0): its score is already there
        same = [s.name for s in [rank] + sets if s.name in per and _same_items(s, gate.reader)]
        acc = per[same[0]] if same else gate.measure(float_x86, "float", "x86")
        write_bytes(cache, json.dumps([acc, per]).encode())
    return {"arm": float_arm, "x86": float_x86, "acc": acc, "per": per}


def _same_items(a, b) -> bool:
    """The same items in the same order (evenly() hands out the reader's own objects)."""
    return len(a) == len(b) and all(x[0] is y[0] and x[1] == y[1] for x, y in zip(a, b))


def _search(recipe, task, source, work, calib, rank, base_acc) -> list[dict]:
    candidates = []
    for entry in tqdm(recipe.quant.algos, desc="PTQ algorithm search", unit="algo"):
        algo, rounding = parse_algo(entry)
        slug = entry.replace("+", "_")
        try:
            qdir = quant_post_static(source, work / slug, calib, algo, recipe.quant.weight_quantize_type,
                                     recipe.quant.batch_size, round_type=rounding, op_types=recipe.quant.op_types)
            qdir = prepare(task, qdir, recipe)
            nb, int8_ops = compile_arm(qdir, work / f"{slug}.nb")
        except LiteError as e:
            candidates.append({"algo": entry, "status": f"failed: {str(e)[:160]}"})
            continue
        except Exception as e:  # noqa: BLE001 - a paddleslim bug in one algorithm must not end the search
            candidates.append({"algo": entry, "status": f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"})
            continue
        if not int8_ops:  # the .nb decides: a "quantized" model that compiles to float is no candidate
            candidates.append({"algo": entry, "status": "no int8 kernels in the .nb", "nb_bytes_arm": nb.stat().st_size})
            continue
        acc = task.score_inference(str(qdir), rank, recipe)
        candidates.append({"algo": entry, "status": "ok", "method": "ptq", "accuracy_inference": acc,
                           "int8_ops": int8_ops, "nb_bytes_arm": nb.stat().st_size, "dir": str(qdir), "nb": str(nb),
                           "float_layers": []})
        _log(f"  {entry}: {task.metric} {acc:.4f} (drop {100 * (base_acc - acc):+.2f} points, Paddle Inference)")
    return candidates


def _qat(recipe, task, source, work, rank, base_acc, gate: _Gate, tried: list) -> dict | None:
    from slim.methods.qat import QATRun, qat_finetune

    q = recipe.qat
    try:
        student, teacher, loss, shape = task.qat_setup(source)
    except LiteError as e:
        _log(f"  QAT skipped: {e}")
        return None
    labelled = task.qat_labelled(recipe, q.pool_size) if q.label_weight > 0 else None
    pool, labels = labelled if labelled else (task.calibration(recipe, q.pool_size), None)
    skip = _mixed_float_layers(tried) if q.keep_float == "mixed" else []
    run = QATRun(q.steps, q.lr, q.batch_size, shape, pact=q.pact, skip=skip)
    _log(f"  QAT: {q.steps} steps on {len(pool)} crops" + (", with their labels" if labels else ", distilled")
         + (f", {len(skip)} layer(s) float as in the best mixed candidate" if skip else ""))
    qdir = qat_finetune(student, teacher, loss, work / "qat", pool, run, source, labels)
    qdir = prepare(task, qdir, recipe)
    nb, int8_ops = compile_arm(qdir, work / "qat.nb")
    acc = task.score_inference(str(qdir), rank, recipe)
    algo = "qat" + ("-pact" if q.pact else "") + ("+labels" if labels else "") + (f" ({len(skip)} float)" if skip else "")
    cand = {"algo": algo, "status": "ok" if int8_ops else "no int8 kernels in the .nb", "method": "qat",
            "accuracy_inference": acc, "int8_ops": int8_ops, "nb_bytes_arm": nb.stat().st_size, "dir": str(qdir),
            "nb": str(nb), "float_layers": skip, "qat": {"steps": q.steps, "lr": q.lr, "pact": q.pact,
                                                         "labelled_crops": len(labels.labels) if labels else 0,
                                                         "label_weight": q.label_weight if labels else 0.0}}
    tried.append(cand)
    _log(f"  {algo}: {task.metric} {acc:.4f} (drop {100 * (base_acc - acc):+.2f} points, Paddle Inference)")
    return cand if int8_ops and _prescreened(recipe, base_acc, acc) and gate.check(cand) else None


def _mixed_float_layers(tried: list) -> list:
    """The float layers of the best mixed-precision candidate (fewest on a tie)."""
    mixed_ok = [c for c in tried if c.get("method") == "ptq-mixed" and c.get("status") == "ok"]
    if not mixed_ok:
        return []
    return list(max(mixed_ok, key=lambda c: (c["accuracy_inference"], -len(c["float_layers"])))["float_layers"])


def _prescreened(recipe, base_acc: float, acc: float) -> bool:
    """Paddle Inference already puts a candidate this far over budget: it is not
    compiled-and-measured on ARM (the .nb agrees with Paddle Inference)."""
    ok = base_acc - acc <= (recipe.gate.max_drop_points + recipe.gate.prescreen_points) / 100.0 + 1e-12
    if not ok:
        _log(f"    not gated on ARM: {100 * (base_acc - acc):.2f} points down on Paddle Inference")
    return ok


def _weight_only(recipe, task, source, work, calib, rank, base_acc, gate: _Gate, tried: list) -> dict | None:
    from slim.methods.gptq import gptq_round_model

    wo = recipe.weight_only
    qdir, stats = gptq_round_model(source, work / "weight_only", calib[:wo.calib_size], wo.damp,
                                   recipe.quant.batch_size, wo.rounding)
    # the task's storage rewrite applies (rec: the BiLSTM's weights stored int8, rebuilt
    # in float when the model runs): it is weight-only itself
    qdir = prepare(task, qdir, recipe)
    nb = opt(qdir, target="arm", out=work / "weight_only.nb", quant_weights="int8")
    n = read_nb(nb).weight_only_ops
    acc = task.score_inference(str(qdir), rank, recipe)
    cand = {"algo": f"weight-only int8 ({wo.rounding})", "status": "ok" if n else "no int8 weights in the .nb",
            "method": "weight-only", "accuracy_inference": acc, "int8_ops": 0, "weight_only_ops": n,
            "rounding": stats, "nb_bytes_arm": nb.stat().st_size, "dir": str(qdir), "nb": str(nb),
            "float_layers": []}
    tried.append(cand)
    _log(f"  weight-only int8 ({wo.rounding}, {n} layers): {task.metric} {acc:.4f} "
         f"(drop {100 * (base_acc - acc):+.2f} points, Paddle Inference)")
    return cand if n and _prescreened(recipe, base_acc, acc) and gate.check(cand) else None


def run(recipe: QuantRecipe, model: str | None = None, data: list[str] | str | None = None,
        out: str | None = None, images: str | None = None, calib: str | None = None) -> dict:
    """`data`: labelled gate sets (else the recipe's `data.gate`); `images`
    (det photos) and `calib` (rec, cls crops) override the recipe's real
    calibration sources."""
    t0 = time.time()
    task = get_family(recipe.task)
    recipe = _with_data(recipe, images, calib)
    data = [data] if isinstance(data, str) else data
    with tempfile.TemporaryDirectory(prefix="slimq.") as work:
        work = Path(work)
        models = pruned_source(recipe, model, work) if recipe.prune else task.models(recipe, model, work)
        task.bind(recipe, models)
        if recipe.quant.kernel_rewrites:  # folds that change weights come before calibration
            from slim.graph.kernel_rewrites import fold_float_model

            models.source, folds = fold_float_model(models.source, work / "source_folded")
            if folds:
                _log(f"folded into neighbouring layers before quantization: {folds}")
                models.prepared.update(folds)
        sets = task.eval_sets(recipe, data)
        rank = task.rank_set(sets)
        # candidates are ranked on held-out calibration-side data, never on the gate set (when there is some)
        select = task.selection_set(recipe) or rank
        calib = task.calibration(recipe, recipe.quant.calib_size)
        float_source = models.source  # weight-only keeps float activations: no equalization needed
        if recipe.quant.equalize_dw:  # exact in float; the int8 per-tensor input scales then fit every channel
            from slim.graph.dw_equalize import equalize_model

            models.source, n = equalize_model(models.source, work / "source_equalized", calib)
            _log(f"equalized the input channels of {n} depthwise conv(s) on {len(calib)} calibration crops")
            if n:
                models.prepared["equalized_depthwise_inputs"] = n
        gate = _Gate(recipe, task, evenly(rank, recipe.gate.nb_subset, f"{rank.name}-gate"))
        name = models.name
        out_dir = Path(out or f"output/slim_quant_{name}")
        with atomic_dir(out_dir) as stage, ThreadPoolExecutor(1) as bg:
            cache = job_cache(models.baseline, "float-x86", task.task, task.metric, recipe.gate.limit_side_len,
                              recipe.gate.nb_subset, recipe.gate.case_insensitive, sets_digest(sets)) / "float.json"
            base_future = bg.submit(_float_baseline, models.baseline, name, stage, gate, sets, rank, cache)
            base_acc = task.score_inference(str(models.baseline), select, recipe)
            _log(f"float {name}: {task.metric} {base_acc:.4f} on {len(select)} {task.unit} of {select.name} "
                 "(Paddle Inference; ranks the candidates)")
            if models.pruning is not None:
                src_acc = task.score_inference(str(models.source), select, recipe)
                _log(f"pruned {name}: {task.metric} {src_acc:.4f} (Paddle Inference); quantizing it")
                models.pruning["metric_inference"] = src_acc
            direct = recipe.quant.method == "weight_only"  # no int8-arithmetic search at all
            candidates = [] if direct else _search(recipe, task, models.source, work, calib, select, base_acc)
            base = base_future.result()
            gate.base = base["acc"]
            chosen, fallbacks = None, []
            if not direct:
                ok = sorted((c for c in candidates if c["status"] == "ok"), key=lambda c: -c["accuracy_inference"])
                if not ok:
                    raise LiteError(f"{name}: no calibration algorithm produced an int8 .nb; see quant.algos in the recipe")
                # best first; the first that passes wins (those Paddle Inference puts far over budget
                # are not measured on ARM)
                chosen = next((c for c in ok if _prescreened(recipe, base_acc, c["accuracy_inference"])
                               and gate.check(c)), None)
                if chosen is None and recipe.mixed.enabled:
                    _log(f"no PTQ candidate within {recipe.gate.max_drop_points} points: mixed precision")
                    chosen = mixed(recipe, task, models.source, work, calib, select, base_acc, ok[0],
                                   base["arm"].stat().st_size, gate, fallbacks)
                if chosen is None and recipe.qat.enabled:
                    _log("mixed precision did not reach the budget: QAT")
                    chosen = _qat(recipe, task, models.source, work, select, base_acc, gate, fallbacks)
            if chosen is None and (direct or recipe.weight_only.enabled):
                if not direct:
                    _log("no int8-arithmetic candidate kept the budget: int8 weights, float arithmetic")
                chosen = _weight_only(recipe, task, float_source, work, calib, select, base_acc, gate, fallbacks)
            passed = chosen is not None
            if not passed:
                chosen, passed = _closest(recipe, task, candidates + fallbacks, gate, name)
            report = _finish(recipe, task, models, stage, sets, rank, select, base, base_acc, chosen,
                             candidates + fallbacks, gate, t0, passed)
    return report


def _closest(recipe, task, tried: list, gate: _Gate, name: str) -> tuple[dict, bool]:
    """No candidate kept the budget: the one that came closest (on Paddle
    Inference), measured on ARM if it was not, so the report shows what the
    best `.nb` reaches. None that even came within reach of the gate: an error."""
    gated = [c for c in tried if "accuracy_nb_arm" in c]
    near = [c for c in tried if c.get("status") == "ok" and c.get("nb")]
    budget = f"{task.metric} drop within {recipe.gate.max_drop_points} points"
    if not gated and not near:
        raise LiteError(f"{name}: no int8 .nb kept the {budget}; raise gate.max_drop_points, or enable/extend the "
                        "mixed, qat and weight_only fallbacks in the recipe")
    best = max(gated or near, key=lambda c: c.get("accuracy_nb_arm", c["accuracy_inference"]))
    if "accuracy_nb_arm" not in best and gate.check(best):  # Paddle Inference said no; the .nb itself says yes
        return best, True
    _log(f"no candidate kept the {budget}; reporting the closest: {best['algo']}")
    return best, False


def _with_data(recipe: QuantRecipe, images: str | None, calib: str | None) -> QuantRecipe:
    import dataclasses

    if not images and not calib:
        return recipe
    data = dataclasses.replace(recipe.data, images=images or recipe.data.images, calib=calib or recipe.data.calib)
    out = dataclasses.replace(recipe, data=data)
    out.source = getattr(recipe, "source", None)
    return out


def _copy_model(src: Path, dest: Path) -> None:
    from lite.model_dir import locate

    m = locate(src)
    dest.mkdir(parents=True)
    for f in (m.model_file, m.params_file):
        if f is not None:
            shutil.copyfile(f, dest / f.name)


def _finish(recipe, task, models, stage, sets, rank, select, base, base_acc, chosen, tried, gate, t0,
            passed: bool = True) -> dict:
    name = models.name
    slim_nb = stage / f"{name}_int8_arm.nb"
    shutil.copy(chosen["nb"], slim_nb)
    shutil.copytree(chosen["dir"], stage / "inference_int8")
    _copy_model(models.baseline, stage / "inference_float")  # `slim bundle` ships it for the Paddle Inference run
    if "sensitivity" in chosen:
        (stage / "sensitivity.json").write_text(json.dumps(chosen["sensitivity"], indent=1))
    shapes = task.bench_shapes(recipe)
    _log(f"ARM instructions per inference at {shapes['x']} (float vs int8)")
    cost = compare(str(base["arm"]), str(slim_nb), target=recipe.gate.target, repeats=task.bench_repeats,
                   shapes=shapes, cpu=recipe.gate.cpu)
    others = {}
    for c in recipe.gate.also_cpus:
        _log(f"ARM instructions on {c} kernels")
        o = compare(str(base["arm"]), str(slim_nb), target=recipe.gate.target, repeats=1, shapes=shapes, cpu=c)
        others[c] = {"float": o["a"]["instructions_per_run"], "int8": o["b"]["instructions_per_run"],
                     "ratio": o["ratio"]}
    rewritten = _float_rewritten(recipe, models.baseline, shapes, task.fixed_height())
    lat = bench(str(base["x86"]), target="x86", repeats=30, shapes=shapes)  # x86 int8 kernels are unreliable
    float_bytes = base["arm"].stat().st_size
    int8_per = {s.name: task.score_inference(chosen["dir"], s, recipe)
                for s in ([rank] if rank.name not in [x.name for x in sets] else []) + sets}
    report = {
        "model": name, "task": task.task, "kind": "quant", "metric": task.metric,
        "eval_set": {"name": "+".join(s.name for s in sets), "size": sum(len(s) for s in sets),
                     "parts": {s.name: len(s) for s in sets}, "skipped_images": sum(s.skipped for s in sets),
                     "secondary": [s.name for s in sets if getattr(s, "secondary", False)],
                     "synthetic": [s.name for s in sets if s.name.startswith("synthetic")],
                     "gate_set": rank.name, "gate_size": len(gate.reader), "unit": task.unit,
                     "nb_subset": recipe.gate.nb_subset, "limit_side_len": recipe.gate.limit_side_len},
        "data": _data_summary(recipe, task),
        "cpu": recipe.gate.cpu, "bench_shape": list(shapes["x"]),
        "budget_drop_points": recipe.gate.max_drop_points, "passed": passed,
        "selection_set": {"name": select.name, "size": len(select), "is_gate_set": select is rank},
        "baseline": {"metric_value": base["acc"], "measured_on": "x86 .nb (float: agrees with the ARM .nb)",
                     "metric_value_x86": base["per"][rank.name],
                     "metric_value_selection": base_acc, "nb_bytes_arm": float_bytes,
                     "instructions_per_run": cost["a"]["instructions_per_run"],
                     "latency_ms_x86": lat["latency_ms"]},
        "slim": {"metric_value": chosen["accuracy_nb_arm"], "measured_on": f"ARM .nb ({recipe.gate.target})",
                 "metric_value_inference": int8_per[rank.name], "metric_value_selection": chosen["accuracy_inference"],
                 "nb_bytes_arm": slim_nb.stat().st_size,
                 "instructions_per_run": cost["b"]["instructions_per_run"], "algo": chosen["algo"],
                 "method": chosen["method"], "float_layers": chosen["float_layers"], "int8_ops": chosen["int8_ops"],
                 **{k: chosen[k] for k in ("weight_only_ops", "rounding") if k in chosen}},
        "ratios": {"nb_bytes": slim_nb.stat().st_size / float_bytes, "instructions": cost["ratio"]},
        "per_set": {s.name: {"size": len(s), "float_nb_x86": base["per"][s.name],
                             "int8_inference": int8_per[s.name]} for s in sets if len(sets) > 1},
        "search": [{k: v for k, v in c.items() if k not in ("dir", "nb", "sensitivity")} for c in tried],
        "gate": gate.log,
    }
    if others:
        report["instructions_other_cpus"] = others
    t_official = time.time()
    official = _official(task, gate)
    official_s = time.time() - t_official  # the comparison row is `slim bench`'s, not the job's: timed apart
    if official:
        official["seconds"] = round(official_s, 1)
        report["official"] = official
    if rewritten:
        report["float_rewritten"] = rewritten
    report.update(task.report_extra(recipe))
    if "sensitivity" in chosen:
        _sensitivity_chart(chosen["sensitivity"], chosen["float_layers"], stage / "sensitivity.png", task.metric)
    if task.report_latency:
        report["latency_ms"] = lat["latency_ms"]
    if models.pruning is not None:
        report["pruning"] = _pruning_summary(recipe, models)
    if models.prepared:
        report["prepared"] = models.prepared
    report["seconds"] = round(time.time() - t0 - official_s, 1)
    (stage / "report.json").write_text(json.dumps(report, indent=2))
    (stage / "report.md").write_text(render_md(report))
    return report


def _official(task: Family, gate: _Gate) -> dict | None:
    """The official slim `.nb` of this task (PaddleOCR's Lite demo) scored on
    the same gate items on ARM, on its own v2.10-rc runtime; cached per file
    and items. Left out, with the reason logged, where it cannot be had."""
    if not task.official_stage:
        return None
    from slim.families.zoo import official_slim_nb

    try:
        nb = official_slim_nb(task.official_stage)
        info = read_nb(nb)
        cache = home() / "jobs" / "official" / f"{nb.name}-{sets_digest([gate.reader])}-{task.metric}.json"
        if cache.is_file():
            value = json.loads(cache.read_text())["value"]
        else:
            value = gate.measure(nb, "official slim")
            write_bytes(cache, json.dumps({"value": value}).encode())
    except LiteError as e:
        _log(f"the official slim .nb is left out of the report: {e}")
        return None
    return {"name": nb.name, "opt_version": info.opt_version, "nb_bytes": nb.stat().st_size, "metric_value": value,
            "measured_on": f"ARM .nb ({gate.recipe.gate.target}, {info.opt_version} runtime), the gate items"}


def _data_summary(recipe, task) -> dict:
    """What the job calibrated on: real (named) or synthetic."""
    src = task.calibration_source(recipe)
    return {"calibration": src or "synthetic", "calibration_real": bool(src)}


def _float_rewritten(recipe, model_dir: Path, shapes: dict, height: int | None) -> dict | None:
    """Instructions of the float model with only the exact kernel rewrites,
    so the report can say how much of the gain is those and how much is int8."""
    if not recipe.quant.kernel_rewrites:
        return None
    from slim.graph.kernel_rewrites import fold_float_model, rewrite_for_arm_kernels

    with tempfile.TemporaryDirectory(prefix="slimdw.") as tmp:
        d, folds = fold_float_model(model_dir, Path(tmp) / "float_folded")
        d, counts = rewrite_for_arm_kernels(d, Path(tmp) / "float_rw", height)
        counts = {**folds, **counts}
        if not counts:
            return None
        nb = opt(d, target="arm", out=Path(tmp) / "float_rw.nb")
        r = bench(str(nb), target=recipe.gate.target, warmup=0, repeats=1, shapes=shapes, cpu=recipe.gate.cpu)
    return {"layers": counts, "instructions_per_run": r["instructions_per_run"]}


def _sensitivity_chart(sens: dict, kept_float: list, path: Path, metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(sens)
    fig, ax = plt.subplots(figsize=(max(6, 0.18 * len(names)), 3.2))
    ax.bar(range(len(names)), [100 * sens[n] for n in names],
           color=["tab:red" if n in kept_float else "tab:blue" for n in names])
    ax.set_xticks(range(len(names)), [n.split(".")[0] for n in names], rotation=90, fontsize=6)
    ax.set_ylabel(f"{metric} drop, points")
    ax.set_title("only this layer int8 (red: kept float)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pruning_summary(recipe, models) -> dict:
    """What the prune step did: its recipe, plan, fine-tune and the pruned float model's score."""
    p = models.pruning
    return {"recipe": recipe.prune, "plan": p["plan"], "finetune": p["finetune"],
            "params": p["params"], "flops": p["flops"], "flops_input": p["flops_input"],
            "metric_value_inference_pruned_float": p.get("metric_inference"), "photos": p.get("photos"),
            "holdout": p.get("holdout")}


def render_md(r: dict) -> str:
    b, s = r["baseline"], r["slim"]
    metric = r["metric"]
    what = "int8 weights, float arithmetic" if s["method"] == "weight-only" else "int8"
    what += ", pruned first" if "pruning" in r else ""
    e = r["eval_set"]
    synth = set(e.get("synthetic", []))
    sets = ", ".join(f"{k} ({v} {e['unit']}{', synthetic' if k in synth else ''})" for k, v in e["parts"].items())
    lines = [f"# slim quant: {r['model']}", ""] + (
        [] if r.get("passed", True) else ["**FAIL: no candidate kept the budget; the closest is reported.**", ""]) + [
        f"Gate: {metric} of the ARM `.nb` (emulated {r['cpu']}) on {e['gate_size']} {e['unit']} of {e['gate_set']}"
        + (" (an evenly spread subset)" if e.get("nb_subset") else "") + f" against the float model on the same "
        f"{e['unit']} (its x86 `.nb`, which agrees with the ARM one); budget {r['budget_drop_points']} points. "
        f"Eval sets: {sets}. Calibrated on {r['data']['calibration']}"
        + ("" if r["data"]["calibration_real"] else " (synthetic: accuracy on real images is not proven)") + "; "
        + (f"candidates ranked on {r['selection_set']['size']} {e['unit']} held out of that ({r['selection_set']['name']})"
           if not r["selection_set"]["is_gate_set"] else "candidates ranked on the gate sets (no labelled "
           "calibration-side data was given)") + ".",
        "",
        f"| | float | {what} | ratio |",
        "|---|---|---|---|",
        f"| {metric}, gate ({e['gate_size']} {e['unit']}) | {b['metric_value']:.4f} | {s['metric_value']:.4f} | "
        f"drop {100 * (b['metric_value'] - s['metric_value']):+.2f} pt |",
        f"| {metric}, {e['gate_set']} in full (float: x86 .nb; {what}: Paddle Inference) | "
        f"{b['metric_value_x86']:.4f} | {s['metric_value_inference']:.4f} | "
        f"drop {100 * (b['metric_value_x86'] - s['metric_value_inference']):+.2f} pt |",
    ]
    for k, v in r["per_set"].items():
        lines.append(f"| {metric}, {k} ({v['size']}{', synthetic' if k in synth else ''}) | {v['float_nb_x86']:.4f} | "
                     f"{v['int8_inference']:.4f} | |")
    if r.get("official"):
        o = r["official"]
        lines.append(f"| official slim `.nb` ({o['name']}, opt {o['opt_version']}): {metric} on the gate "
                     f"{e['unit']} (ARM) / bytes | | {o['metric_value']:.4f} / {o['nb_bytes']:,} | |")
    lines += [
        f"| .nb bytes | {b['nb_bytes_arm']:,} | {s['nb_bytes_arm']:,} | {r['ratios']['nb_bytes']:.3f} |",
        f"| ARM instructions / inference ({'x'.join(map(str, r['bench_shape']))}) | {b['instructions_per_run']:,} | "
        f"{s['instructions_per_run']:,} | {r['ratios']['instructions']:.3f} |",
        "",
        f"Float `.nb` latency on x86: {b['latency_ms_x86']['median']:.3f} ms (median, 1 thread).",
        f"Chosen: **{s['algo']}** ({s['method']}); layers kept in float: "
        f"{', '.join(s['float_layers']) if s['float_layers'] else 'none'}.",
        f"Whole job {r['seconds']} s" + (f" (the official slim `.nb`'s ARM run, {r['official']['seconds']} s, "
                                          "is not counted)." if r.get("official", {}).get("seconds") else "."),
        "",
    ]
    if "float_rewritten" in r:
        f = r["float_rewritten"]
        what = {"strided_depthwise": "stride-(2, 1) depthwise conv(s) run at stride 1, every second row kept "
                                     "(Lite's depthwise kernels take only equal strides)",
                "full_height_pools": "pool(s) as tall as their input given one more row (so Lite's NEON pool "
                                     "kernel takes them)"}
        lines += ["Of that, the exact kernel rewrites ("
                  + "; ".join(f"{n} {what.get(k, k)}" for k, n in f["layers"].items())
                  + f") give the float model {f['instructions_per_run']:,} instructions "
                  f"({f['instructions_per_run'] / b['instructions_per_run']:.3f}x)"
                  + ("; the weight-only .nb computes in float, so its gain is theirs." if s["method"] == "weight-only"
                     else "; int8 does the rest."), ""]
    if "instructions_other_cpus" in r:
        lines += ["ARM instructions on other kernel paths: " + "; ".join(
            f"{c}: {v['float']:,} -> {v['int8']:,} ({v['ratio']:.3f}x)" for c, v in r["instructions_other_cpus"].items()),
            ""]
    if "rec" in r:
        rc = r["rec"]
        lines += [f"Dictionary `{rc['dictionary']}` ({rc['classes']} classes, space {'on' if rc['use_space'] else 'off'}); "
                  f"input height {rc['height']}, width padded to max({rc['min_width']}, height x aspect) as predict_rec "
                  f"does; the `.nb` takes any width.", ""]
    if r.get("prepared"):
        what = {"scalar_affines": "scalar affine pair(s) folded into the convs beside them",
                "equalized_depthwise_inputs": "depthwise conv(s) with their input channels equalized on the "
                                              "calibration crops (slim/graph/dw_equalize.py)"}
        lines += ["Before calibration (exact in float): " + "; ".join(
            f"{n} {what.get(k, k)}" for k, n in r["prepared"].items()) + "."
            + (" The weight-only candidate starts before the equalization, which only int8 activations need."
               if s["method"] == "weight-only" and "equalized_depthwise_inputs" in r["prepared"] else ""), ""]
    if r["slim"]["float_layers"]:
        lines += ["![per-layer sensitivity](sensitivity.png)", ""]
    if s["method"] == "weight-only":
        lines += [f"Weight-only: {s['weight_only_ops']} conv2d / fc layers keep int8 weights (one scale per output "
                  "channel; the runtime dequantizes them when it loads the model), rounded by "
                  f"{s['rounding']['method']} on the calibration crops (slim/methods/gptq.py); depthwise convs stay float.", ""]
    if "pruning" in r:
        p = r["pruning"]
        lines += [f"Pruned first with `{p['recipe']}` (predicted drop {100 * p['plan']['predicted_drop']:.2f} points, "
                  f"{p['finetune']['steps']} distillation steps); the pruned float model scores "
                  f"{p['metric_value_inference_pruned_float']:.4f} on Paddle Inference.", ""]
    lines += [
        f"## Candidates (Paddle Inference {metric} on {r['selection_set']['name']}; the gate measures the .nb)",
        "",
        f"| candidate | status | {metric} | .nb bytes |",
        "|---|---|---|---|",
    ]
    for c in r["search"]:
        acc = f"{c['accuracy_inference']:.4f}" if "accuracy_inference" in c else "-"
        lines.append(f"| {c['algo']} | {c['status']} | {acc} | {c.get('nb_bytes_arm', '-')} |")
    return "\n".join(lines) + "\n"
