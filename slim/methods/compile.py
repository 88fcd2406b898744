"""How any quantized candidate becomes the `.nb` the gate measures; shared by
the PTQ search, mixed precision, QAT and weight-only candidates."""
from __future__ import annotations

from pathlib import Path

from lite.nbfile import read_nb
from lite.opt import opt



def prepare(task, qdir: Path, recipe) -> Path:
    """The model a candidate's `.nb` is compiled from: the task's storage
    rewrite (rec: int8 BiLSTM weights), then the exact rewrites for Lite's ARM
    kernels (slim/graph/kernel_rewrites.py)."""
    qdir = task.after_ptq(qdir, recipe)
    if recipe.quant.kernel_rewrites:
        from slim.graph.kernel_rewrites import rewrite_for_arm_kernels

        qdir, _ = rewrite_for_arm_kernels(qdir, qdir.parent / (qdir.name + "_rw"), task.fixed_height())
    return qdir


def compile_arm(qdir: Path, nb: Path) -> tuple[Path, int]:
    """The ARM `.nb` and its count of int8 kernels."""
    opt(qdir, target="arm", out=nb)
    return nb, sum(1 for op in read_nb(nb).ops if op.precision == "int8")


def evaluate_int8(task, qdir: Path | str, reader, recipe) -> dict:
    """A quantized candidate's Paddle Inference evaluation (value, per_item),
    on its program with the dequantize ops folded into the weights
    (slim/graph/dequant_fold.py: 3-4x faster on x86; it differs from the
    frozen program by as much as Paddle Inference's IR optimisation on and
    off does)."""
    from slim.graph.dequant_fold import fold_dequantize

    qdir = Path(qdir)
    fast = qdir.parent / (qdir.name + "_pi")
    if not (fast / "inference.pdmodel").is_file():
        fold_dequantize(qdir, fast)
    return task.evaluate_inference(str(fast), reader, recipe)


def score_int8(task, qdir: Path | str, reader, recipe) -> float:
    return evaluate_int8(task, qdir, reader, recipe)["value"]
