"""QAT (paddleslim's dygraph QAT), fine-tuned by distillation from the float
network (the task supplies the loss: KL on class probabilities, BCE + dice on
probability maps), so the fine-tune pool needs no labels; where the crops carry
labels, the task's own training loss (rec: CTC) is added. Layers the mixed
precision scan kept float can stay float here too."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lite.errors import LiteError

from slim.methods.base import Candidate, Method, QuantContext, register_method
from slim.methods.compile import compile_arm, prepare, score_int8
from slim.methods.finetune import latest_checkpoint, resumable_adam, train_steps
from slim.workers import log

QAT_CONFIG = {
    "weight_quantize_type": "channel_wise_abs_max",
    "activation_quantize_type": "moving_average_abs_max",
    "weight_bits": 8,
    "activation_bits": 8,
    "quantizable_layer_type": ["Conv2D", "Linear"],
    "onnx_format": False,  # the same fake-quant form as PTQ, which opt compiles to int8 kernels
}


@dataclass
class Labelled:
    """A labelled fine-tune pool: labels[i] belongs to pool[i]; `loss(student_out, labels, F)`."""
    labels: list
    loss: object
    weight: float = 1.0


@dataclass
class QATRun:
    """One QAT fine-tune: what the recipe and the task decide."""
    steps: int
    lr: float
    batch_size: int
    input_shape: list
    pact: bool = True             # learned activation clipping
    skip: list = field(default_factory=list)  # static weight names whose layers stay float
    seed: int = 0
    anchor: np.ndarray | None = None  # unlabelled crops distilled beside the pool (`qat.anchor`)
    anchor_share: float = 0.0
    act_scales: dict | None = None  # {static weight: PTQ's scale of its layer's input}: QAT starts there
    freeze_scales: bool = True      # keep those scales (else the moving average continues from them)


def qat_finetune(student, teacher, loss_fn, out_dir: Path, pool: np.ndarray, run: QATRun, source: Path,
                 labelled: Labelled | None = None, ckpt_dir: Path | None = None, every: int = 50,
                 stop_after: int | None = None) -> Path | None:
    """`student` and `teacher`: two copies of the float network loaded from
    `source` (eval mode); `loss_fn(student_out, teacher_out, F)`. With
    `ckpt_dir`, a checkpoint every `every` steps, and a rerun resumes from
    the latest (`stop_after` ends early, as an interruption would: None)."""
    import tempfile

    import paddle
    import paddle.nn.functional as F
    from paddleslim import QAT

    from slim.families.model_source import forget_traced_parameters
    from slim.graph.program_fold import fold_bias_reshapes
    from slim.methods.ptq import quiet_paddleslim

    paddle.disable_static()
    paddle.seed(run.seed)
    teacher.eval()
    for layer in layers_of(student, source, run.skip):
        layer.skip_quant = True  # paddleslim's QAT leaves these float
    config = dict(QAT_CONFIG, **({"activation_preprocess_type": "PACT"} if run.pact else {}))
    quanter = QAT(config=config)
    quiet_paddleslim()
    started = _start_from(student, source, run.act_scales, quanter)
    scratch = None if ckpt_dir else tempfile.TemporaryDirectory(prefix="qat.")
    ckpt_dir = Path(ckpt_dir or scratch.name)
    opt, _, start = resumable_adam(student, run.lr, run.steps, ckpt_dir, cosine=False)  # restores the scales too
    student.train()
    for layer in student.sublayers():  # a small pool must not move the BN statistics
        if isinstance(layer, (paddle.nn.BatchNorm, paddle.nn.BatchNorm2D)):
            layer.eval()
    if run.freeze_scales:
        for quant in started:
            quant.eval()
    desc = "QAT fine-tune" + (" (PACT)" if run.pact else "") + (", with labels" if labelled else "")
    draws = _draws(run, len(pool))

    def loss_at(step: int):
        idx, anchor = draws[step]
        batch = pool[idx]
        if anchor is not None:  # anchor crops come last: the labelled loss reads the first len(idx) outputs
            batch = np.concatenate([batch, run.anchor[anchor]])
        x = paddle.to_tensor(batch)
        with paddle.no_grad():
            t = teacher(x)
        out = student(x)
        loss = loss_fn(out, t, F)
        if labelled is not None and labelled.weight:
            loss = loss + labelled.weight * labelled.loss(out[:len(idx)], [labelled.labels[i] for i in idx], F)
        return loss

    try:
        train_steps(student, opt, None, start, run.steps, ckpt_dir, every, loss_at, stop_after=stop_after, desc=desc)
    finally:
        if scratch is not None:
            scratch.cleanup()
    if stop_after is not None and stop_after < run.steps:
        return None
    student.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = [paddle.static.InputSpec(shape=run.input_shape, dtype="float32", name="x")]
    forget_traced_parameters()  # stale records of PaddleSlim's tracing break jit.save (model_source.py)
    quanter.save_quantized_model(student, str(out_dir / "inference"), input_spec=spec)
    fold_bias_reshapes(out_dir)  # as for float exports: Lite fuses the conv biases back
    return out_dir


def _draws(run: QATRun, n: int) -> list:
    """Every step's (pool indices, anchor indices or None), drawn in order
    from one seeded stream, so a resumed run trains on the batches an
    uninterrupted one would."""
    rng = np.random.RandomState(run.seed)
    n_anchor = int(round(run.batch_size * run.anchor_share)) if run.anchor is not None else 0
    out = []
    for _ in range(run.steps):
        idx = rng.choice(n, min(run.batch_size - n_anchor, n), replace=False)
        out.append((idx, rng.choice(len(run.anchor), n_anchor, replace=False) if n_anchor else None))
    return out


def _start_from(student, source: Path, scales: dict | None, quanter) -> list:
    """Quantizes `student`; with `scales`, its activation quantizers start
    from them. QAT's own moving average over a batch's max reads larger
    scales than PTQ's average of per-crop maxima (rec: 1.36x median, up to
    2.8x), so without this QAT starts well below the PTQ candidate it
    continues. Returns the quantizers set."""
    import paddle

    by_weight = {}
    if scales:
        names = list(scales)
        by_weight = {id(layer.weight): scales[w] for layer, w in zip(layers_of(student, source, names), names)}
    quanter.quantize(student)
    started = []
    for sub in student.sublayers():
        quant = getattr(sub, "_fake_quant_input", None)
        scale = by_weight.get(id(getattr(sub, "weight", None)))
        if quant is None or scale is None or not hasattr(quant, "_scale"):
            continue
        scale = max(scale, 1e-6)
        steady = 1.0 / (1.0 - quant._moving_rate)  # the moving average's state once warmed up
        quant._scale.set_value(paddle.to_tensor([scale], dtype="float32"))
        quant._state.set_value(paddle.to_tensor([steady], dtype="float32"))
        quant._accum.set_value(paddle.to_tensor([steady * scale], dtype="float32"))
        started.append(quant)
    return started


def layers_of(net, source: Path, weight_names: list) -> list:
    """The layers of `net` holding the static weights `weight_names` of the
    inference model `source` (it was loaded from there in forward order, as
    slim/nets/weights.py matches them)."""
    if not weight_names:
        return []
    from slim.nets.weights import inference_params, unique_state

    static = [name for name, _ in inference_params(source)]
    keys = list(unique_state(net)[0])
    sub = dict(net.named_sublayers())
    out = []
    for name in weight_names:
        if name not in static:
            raise LiteError(f"{source}: no weight `{name}` to keep float in QAT")
        out.append(sub[keys[static.index(name)].rsplit(".", 1)[0]])
    return out


def _checkpoints(source: Path, run: QATRun, pool: np.ndarray, labelled: Labelled | None) -> Path:
    """The job cache's checkpoint folder for this fine-tune: keyed by the
    source's weights, the run's settings and the data it trains on."""
    import hashlib

    from slim.cache import job_cache

    h = hashlib.sha256(np.ascontiguousarray(pool).tobytes())
    if run.anchor is not None:
        h.update(np.ascontiguousarray(run.anchor).tobytes())
    if labelled is not None:
        h.update(repr((labelled.labels, labelled.weight)).encode())
    settings = {k: v for k, v in vars(run).items() if k not in ("anchor", "act_scales")}
    return job_cache(source, "qat", settings, run.act_scales, h.hexdigest()) / "checkpoints"


def _best(tried: list, method: str) -> Candidate | None:
    """The best candidate `method` built that keeps the budget (fewest float layers on a tie)."""
    ok = [c for c in tried if c.method == method and c.ok]
    return max(ok, key=lambda c: (c.accuracy_inference, -len(c.float_layers))) if ok else None


@register_method
class QATMethod(Method):
    """QAT distilled from the float network on the calibration pool; with
    `qat.label_weight > 0`, on the labelled calibration-side crops (the
    held-out selection crops left out) with the family's training loss added."""
    name = "qat"

    def after_failure(self, recipe) -> str:
        return "mixed precision did not reach the budget: QAT"

    def enabled(self, recipe) -> bool:
        return recipe.qat.enabled

    def run(self, ctx: QuantContext) -> Candidate | None:
        recipe, family, q = ctx.recipe, ctx.family, ctx.recipe.qat
        try:
            student, teacher, loss, shape = family.qat_setup(ctx.source)
        except LiteError as e:
            log(f"  QAT skipped: {e}")
            return None
        labelled = family.qat_labelled(recipe, q.pool_size) if q.label_weight > 0 else None
        pool, labels = labelled if labelled else (family.calibration(recipe, q.pool_size), None)
        best_mixed = _best(ctx.tried, "mixed") if q.keep_float == "mixed" else None
        skip = list(best_mixed.float_layers) if best_mixed else []
        run = QATRun(q.steps, q.lr, q.batch_size, shape, pact=q.pact, skip=skip, freeze_scales=q.freeze_scales)
        start = (best_mixed or _best(ctx.tried, "ptq")) if q.init_scales == "ptq" else None
        if start is not None:
            from slim.graph.quant_cut import activation_scales

            run.act_scales = activation_scales(Path(start.dir), Path(ctx.source), recipe.quant.op_types)
        if q.anchor:
            run.anchor, run.anchor_share = family.synthetic_anchor(recipe, q.pool_size), q.anchor
        log(f"  QAT: {q.steps} steps on {len(pool)} crops" + (", with their labels" if labels else ", distilled")
            + (f", {len(skip)} layer(s) float as in the best mixed candidate" if skip else "")
            + (f", activation scales from {start.algo}" + (" (frozen)" if q.freeze_scales else "")
               if run.act_scales else ""))
        ckpt = _checkpoints(ctx.source, run, pool, labels)
        step, _ = latest_checkpoint(ckpt)
        if step:
            log(f"  QAT: resuming from step {step} of {q.steps} ({ckpt})")
        qdir = qat_finetune(student, teacher, loss, ctx.work / "qat", pool, run, ctx.source, labels, ckpt)
        qdir = prepare(family, qdir, recipe)
        nb, int8_ops = compile_arm(qdir, ctx.work / "qat.nb")
        acc = score_int8(family, qdir, ctx.select, recipe)
        algo = "qat" + ("-pact" if q.pact else "") + ("+labels" if labels else "") + (f" ({len(skip)} float)" if skip else "")
        cand = Candidate(algo, "ok" if int8_ops else "no int8 kernels in the .nb", "qat", acc, int8_ops,
                         nb.stat().st_size, str(qdir), str(nb), skip,
                         extra={"qat": {"steps": q.steps, "lr": q.lr, "pact": q.pact,
                                        "labelled_crops": len(labels.labels) if labels else 0,
                                        "label_weight": q.label_weight if labels else 0.0,
                                        "scales_from": start.algo if run.act_scales else "moving average",
                                        "scales_frozen": bool(run.act_scales) and q.freeze_scales}},
                         sensitivity=best_mixed.sensitivity if skip else None)
        ctx.tried.append(cand)
        ctx.report_inference(cand)
        return cand if int8_ops and ctx.within_reach(acc) and ctx.gate.check(cand) else None
