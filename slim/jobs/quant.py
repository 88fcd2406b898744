"""`slim quant TASK`: the recipe's strategy of quantization methods
(`quant.strategy`, default PTQ search, mixed precision, QAT, weight-only;
slim/methods/), tried in order until a candidate keeps the accuracy budget
on its compiled ARM `.nb` itself; then the chosen `.nb` is measured beside
the float one and the report written."""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lite.atomic import atomic_dir
from lite.bench import bench, compare
from lite.errors import LiteError
from lite.nbfile import read_nb
from lite.opt import opt
from lite.paths import home
from lite.readers import evenly

from slim.families import get_family
from slim.families.base import Family, Models
from slim.cache import job_cache, sets_digest
from slim.jobs.gate import Gate, float_baseline, read_off_sets
from slim.jobs.stages import pruned_source
from slim.methods.base import Candidate, QuantContext
from slim.methods.compile import evaluate_int8
from slim.methods.strategies import method
from slim.recipe import QuantRecipe
from slim.report.charts import layer_sensitivity_chart
from slim.report.quant_md import render_md
from slim.report.schema import write
from slim.workers import cores, job_pool, log as _log


def run(recipe: QuantRecipe, model: str | None = None, data: list[str] | str | None = None,
        out: str | None = None, images: str | None = None, calib: str | None = None) -> dict:
    """`data`: labelled gate sets (else the recipe's `data.gate`); `images`
    (det photos) and `calib` (rec, cls crops) override the recipe's real
    calibration sources."""
    t0 = time.time()
    family = get_family(recipe.task)
    recipe = _with_data(recipe, images, calib)
    data = [data] if isinstance(data, str) else data
    with tempfile.TemporaryDirectory(prefix="slimq.") as work, job_pool(cores(2), Path(work)):
        work = Path(work)
        models = pruned_source(recipe, model, work) if recipe.prune else family.models(recipe, model, work)
        family.bind(recipe, models)
        _fold(recipe, models, work)
        sets = family.eval_sets(recipe, data)
        rank = family.rank_set(sets)
        # candidates are ranked on held-out calibration-side data, never on the gate set (when there is some)
        select = family.selection_set(recipe) or rank
        calib = family.calibration(recipe, recipe.quant.calib_size)
        float_source = models.source  # weight-only keeps float activations: no equalization needed
        _equalize(recipe, models, work, calib)
        on = evenly(rank, recipe.gate.nb_subset, f"{rank.name}-gate")
        gate = Gate(recipe, family, on, cache=home() / "jobs" / f"gate-{sets_digest([on])}")
        with atomic_dir(Path(out or f"output/slim_quant_{models.name}")) as stage, ThreadPoolExecutor(1) as bg:
            cache = job_cache(models.baseline, "float-x86", family.task, family.metric, recipe.gate.limit_side_len,
                              recipe.gate.nb_subset, recipe.gate.case_insensitive, sets_digest(sets)) / "float-items.json"
            gate.baseline_future = bg.submit(float_baseline, models.baseline, models.name, stage, gate, sets, rank,
                                             cache)
            ctx = QuantContext(recipe, family, models.source, float_source, work, calib, select,
                               _selection_baseline(recipe, family, models, select), gate,
                               lambda: gate.baseline_future.result()["arm"].stat().st_size, name=models.name,
                               source_acc=(models.pruning or {}).get("metric_inference"))
            chosen, passed = _try_strategy(ctx)
            return _finish(ctx, models, stage, sets, rank, chosen, t0, passed)


def _fold(recipe, models: Models, work: Path) -> None:
    """Folds that change weights come before calibration."""
    if not recipe.quant.kernel_rewrites:
        return
    from slim.graph.kernel_rewrites import fold_float_model

    models.source, folds = fold_float_model(models.source, work / "source_folded")
    if folds:
        _log(f"folded into neighbouring layers before quantization: {folds}")
        models.prepared.update(folds)


def _equalize(recipe, models: Models, work: Path, calib) -> None:
    """Exact in float; the int8 per-tensor input scales then fit every channel."""
    if not recipe.quant.equalize_dw:
        return
    from slim.graph.dw_equalize import equalize_model

    models.source, n = equalize_model(models.source, work / "source_equalized", calib)
    _log(f"equalized the input channels of {n} depthwise conv(s) on {len(calib)} calibration crops")
    if n:
        models.prepared["equalized_depthwise_inputs"] = n


def _selection_baseline(recipe, family: Family, models: Models, select) -> float:
    """The float model on the selection set (Paddle Inference), which ranks the candidates."""
    base_acc = family.score_inference(str(models.baseline), select, recipe)
    _log(f"float {models.name}: {family.metric} {base_acc:.4f} on {len(select)} {family.unit} of {select.name} "
         "(Paddle Inference; ranks the candidates)")
    if models.pruning is not None:
        src_acc = family.score_inference(str(models.source), select, recipe)
        _log(f"pruned {models.name}: {family.metric} {src_acc:.4f} (Paddle Inference); quantizing it")
        models.pruning["metric_inference"] = src_acc
    return base_acc


def _try_strategy(ctx: QuantContext) -> tuple[Candidate, bool]:
    """The recipe's methods in order (those it enables); the first candidate
    the gate passes wins, else the closest one is reported as failing."""
    methods = [m for m in map(method, ctx.recipe.quant.strategy) if m.enabled(ctx.recipe)]
    if methods and ctx.source_past_budget:
        # every method is bounded by the model it quantizes (QAT distils from it), so the
        # fallbacks would spend their time on a budget the pruning already spent
        _log(f"the pruned model is {100 * (ctx.base_acc - ctx.source_acc):.2f} points below the float one on "
             f"{ctx.select.name} (budget {ctx.recipe.gate.max_drop_points}): no quantization can keep the budget, "
             f"so only {methods[0].name} runs and its closest candidate is reported")
        methods = methods[:1]
    for i, m in enumerate(methods):
        if i:
            _log(m.after_failure(ctx.recipe))
        chosen = m.run(ctx)
        if chosen is not None:
            return chosen, True
    return _closest(ctx)


def _closest(ctx: QuantContext) -> tuple[Candidate, bool]:
    """No candidate kept the budget: the one that came closest (on Paddle
    Inference), measured on ARM if it was not, so the report shows what the
    best `.nb` reaches. None that even came within reach of the gate: an error."""
    gated = [c for c in ctx.tried if c.accuracy_nb_arm is not None]
    near = [c for c in ctx.tried if c.ok and c.nb]
    budget = f"{ctx.family.metric} drop within {ctx.recipe.gate.max_drop_points} points"
    if not gated and not near:
        raise LiteError(f"{ctx.name}: no int8 .nb kept the {budget}; raise gate.max_drop_points, or enable/extend "
                        "the mixed, qat and weight_only fallbacks in the recipe")
    best = max(gated or near, key=lambda c: c.accuracy_inference if c.accuracy_nb_arm is None else c.accuracy_nb_arm)
    if best.accuracy_nb_arm is None and ctx.gate.check(best):  # Paddle Inference said no; the .nb itself says yes
        return best, True
    _log(f"no candidate kept the {budget}; reporting the closest: {best.algo}")
    return best, False


def _finish(ctx: QuantContext, models: Models, stage: Path, sets: list, rank, chosen: Candidate, t0: float,
            passed: bool) -> dict:
    recipe, family, gate = ctx.recipe, ctx.family, ctx.gate
    base = gate.baseline_future.result()
    slim_nb = _write_artefacts(models, stage, chosen)
    shapes = family.bench_shapes(recipe)
    with ThreadPoolExecutor(1) as side:
        # the counts run in qemu processes while this thread scores on Paddle Inference
        counts = side.submit(_counts, recipe, family, base, slim_nb, shapes)
        # each set scored once; the pooled rank set is read off their per-item scores
        full = {s.name: evaluate_int8(family, chosen.dir, s, recipe) for s in sets}
        on_rank = read_off_sets(family, rank, sets, full) or evaluate_int8(family, chosen.dir, rank, recipe)
        int8_per = {**{k: v["value"] for k, v in full.items()}, rank.name: on_rank["value"]}
        rewritten = _float_rewritten(recipe, models.baseline, shapes, family.fixed_height())
        cost, others = counts.result()
    # alone: a latency measured beside other work is noise (x86 int8 kernels are unreliable: float only)
    lat = bench(str(base["x86"]), target="x86", repeats=30, shapes=shapes)
    report = {"model": models.name, "task": family.task, "kind": "quant", "metric": family.metric,
              "eval_set": _eval_set(recipe, family, sets, rank, gate), "data": _data_summary(recipe, family),
              "cpu": recipe.gate.cpu, "gate_cpu": family.gate_cpu(recipe, recipe.gate.target),
              "bench_shape": list(shapes["x"]),
              "budget_drop_points": recipe.gate.max_drop_points, "passed": passed,
              "selection_set": {"name": ctx.select.name, "size": len(ctx.select), "is_gate_set": ctx.select is rank},
              **_sides(ctx, base, chosen, slim_nb, cost, lat, rank.name, int8_per[rank.name]),
              "per_set": {s.name: {"size": len(s), "float_nb_x86": base["per"][s.name],
                                   "int8_inference": int8_per[s.name]} for s in sets if len(sets) > 1},
              "drop_interval": gate.drop_interval(Path(chosen.nb)),
              "search": [c.to_json() for c in ctx.tried], "gate": gate.log}
    if others:
        report["instructions_other_cpus"] = others
    t_official = time.time()
    official = _official(family, gate)
    official_s = time.time() - t_official  # the comparison row is `slim bench`'s, not the job's: timed apart
    if official:
        official["seconds"] = round(official_s, 1)
        report["official"] = official
    if rewritten:
        report["float_rewritten"] = rewritten
    report.update(family.report_extra(recipe))
    if chosen.sensitivity:
        # the scan's leaders, so runs can be compared: which layers were kept float, and by what margin
        ranked = sorted(chosen.sensitivity, key=lambda w: -chosen.sensitivity[w])
        report["sensitivity_top"] = {w: chosen.sensitivity[w] for w in ranked[:len(chosen.float_layers) + 4]}
        layer_sensitivity_chart(chosen.sensitivity, chosen.float_layers, stage / "sensitivity.png", family.metric)
    if family.report_latency:
        report["latency_ms"] = lat["latency_ms"]
    if models.pruning is not None:
        report["pruning"] = {**_pruning_summary(recipe, models), "past_budget": ctx.source_past_budget}
    if models.prepared:
        report["prepared"] = models.prepared
    report["seconds"] = round(time.time() - t0 - official_s, 1)
    write(stage, report, render_md)
    return report


def _write_artefacts(models: Models, stage: Path, chosen: Candidate) -> Path:
    """The chosen `.nb` and inference model, the float inference model, the scan."""
    slim_nb = stage / f"{models.name}_int8_arm.nb"
    shutil.copy(chosen.nb, slim_nb)
    shutil.copytree(chosen.dir, stage / "inference_int8")
    _copy_model(models.baseline, stage / "inference_float")  # `slim bundle` ships it for the Paddle Inference run
    if chosen.sensitivity:
        (stage / "sensitivity.json").write_text(json.dumps(chosen.sensitivity, indent=1))
    return slim_nb


def _counts(recipe, family: Family, base: dict, slim_nb: Path, shapes: dict) -> tuple[dict, dict]:
    """ARM instructions of both `.nb` files side by side (and on `gate.also_cpus`)."""
    _log(f"ARM instructions per inference at {shapes['x']} (float vs int8)")
    cost = compare(str(base["arm"]), str(slim_nb), target=recipe.gate.target, repeats=family.bench_repeats,
                   shapes=shapes, cpu=recipe.gate.cpu)
    others = {}
    for c in recipe.gate.also_cpus:
        _log(f"ARM instructions on {c} kernels")
        o = compare(str(base["arm"]), str(slim_nb), target=recipe.gate.target, repeats=1, shapes=shapes, cpu=c)
        others[c] = {"float": o["a"]["instructions_per_run"], "int8": o["b"]["instructions_per_run"],
                     "ratio": o["ratio"]}
    return cost, others


def _eval_set(recipe, family: Family, sets: list, rank, gate: Gate) -> dict:
    return {"name": "+".join(s.name for s in sets), "size": sum(len(s) for s in sets),
            "parts": {s.name: len(s) for s in sets}, "skipped_images": sum(s.skipped for s in sets),
            "secondary": [s.name for s in sets if getattr(s, "secondary", False)],
            "synthetic": [s.name for s in sets if s.name.startswith("synthetic")],
            "gate_set": rank.name, "gate_size": len(gate.reader), "unit": family.unit,
            "nb_subset": recipe.gate.nb_subset, "limit_side_len": recipe.gate.limit_side_len}


def _sides(ctx: QuantContext, base: dict, chosen: Candidate, slim_nb: Path, cost: dict, lat: dict,
           rank_name: str, int8_gate_set: float) -> dict:
    """The float and int8 records and their ratios."""
    float_bytes = base["arm"].stat().st_size
    return {
        "baseline": {"metric_value": base["acc"], "measured_on": "x86 .nb (float: agrees with the ARM .nb)",
                     "metric_value_x86": base["per"][rank_name],
                     "metric_value_selection": ctx.base_acc, "nb_bytes_arm": float_bytes,
                     "instructions_per_run": cost["a"]["instructions_per_run"], "latency_ms_x86": lat["latency_ms"]},
        "slim": {"metric_value": chosen.accuracy_nb_arm, "measured_on": f"ARM .nb ({ctx.recipe.gate.target}, {ctx.family.gate_cpu(ctx.recipe, ctx.recipe.gate.target)} kernels)",
                 "metric_value_inference": int8_gate_set, "metric_value_selection": chosen.accuracy_inference,
                 "nb_bytes_arm": slim_nb.stat().st_size, "instructions_per_run": cost["b"]["instructions_per_run"],
                 "algo": chosen.algo, "method": chosen.method, "float_layers": chosen.float_layers,
                 "int8_ops": chosen.int8_ops,
                 **{k: v for k, v in chosen.extra.items() if k in ("weight_only_ops", "rounding")}},
        "ratios": {"nb_bytes": slim_nb.stat().st_size / float_bytes, "instructions": cost["ratio"]},
    }


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


def _official(task: Family, gate: Gate) -> dict | None:
    """The official slim `.nb` of this task (PaddleOCR's Lite demo) scored on
    the same gate items on ARM, on its own v2.10-rc runtime; cached per file
    and items. Left out, with the reason logged, where it cannot be had."""
    if not task.official_stage:
        return None
    from slim.families.zoo import official_slim_nb

    try:
        nb = official_slim_nb(task.official_stage)
        info = read_nb(nb)
        value = gate.measure(nb, "official slim")  # scored once per gate set (the gate's cache)
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


def _pruning_summary(recipe, models) -> dict:
    """What the prune step did: its recipe, plan, fine-tune and the pruned float model's score."""
    p = models.pruning
    return {"recipe": recipe.prune, "plan": p["plan"], "finetune": p["finetune"],
            "params": p["params"], "flops": p["flops"], "flops_input": p["flops_input"],
            "metric_value_inference_pruned_float": p.get("metric_inference"), "photos": p.get("photos"),
            "holdout": p.get("holdout")}
