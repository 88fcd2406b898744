"""Exact program rewrites that move layers onto Paddle Lite's fast ARM kernels.

Each rewrite keeps the model's outputs (tests hold them equal on Paddle
Inference; on the ARM `.nb` the pool rewrite is bit-exact and the depthwise
one agrees within float rounding) and only changes which Lite kernel runs:
- `strided_depthwise` (slim/graph/dw_stride.py): stride-(2, 1) depthwise convs run
  at stride 1, then every second row is kept;
- `full_height_pools` (slim/graph/pool_rows.py): a pool whose window is as tall as
  its input gets one more row, so Lite's NEON pool kernel takes it.
Both need each layer's height, so a model saved with a free height is given
the height the task always feeds it (rec 32, cls 48); widths stay free.

One fold changes weights, so it runs on the float model before calibration
(PTQ then calibrates the program that will run):
- `scalar_affines` (slim/graph/affine_fold.py): PP-LCNetV3's scalar affine blocks
  folded into the convolutions beside them, or merged into one scale op.
"""
from __future__ import annotations

from pathlib import Path

from slim.graph.affine_fold import fold_scalar_affines
from slim.graph.dw_stride import rewrite_strided_depthwise
from slim.graph.pool_rows import pad_full_height_pools

FLOAT_FOLDS = {"scalar_affines": fold_scalar_affines}
REWRITES = {"strided_depthwise": rewrite_strided_depthwise, "full_height_pools": pad_full_height_pools}


def fold_float_model(model_dir: str | Path, out_dir: str | Path) -> tuple[Path, dict[str, int]]:
    """The float model with FLOAT_FOLDS applied, written to `out_dir`; as
    rewrite_for_arm_kernels, (model_dir, {}) when nothing changed."""
    return apply_rewrites(model_dir, out_dir, FLOAT_FOLDS, None)


def rewrite_for_arm_kernels(model_dir: str | Path, out_dir: str | Path, height: int | None = None,
                            only: tuple[str, ...] | None = None) -> tuple[Path, dict[str, int]]:
    """Write `model_dir` with every rewrite (or those named in `only`) applied
    to `out_dir`; returns (out_dir, {rewrite: layers changed}), or
    (model_dir, {}) without writing when nothing changed."""
    return apply_rewrites(model_dir, out_dir, {k: f for k, f in REWRITES.items() if only is None or k in only}, height)


def apply_rewrites(model_dir, out_dir, rewrites: dict, height: int | None) -> tuple[Path, dict[str, int]]:
    """Open `model_dir`, run each `rewrites` transform (name -> fn(sm) -> count)
    and save to `out_dir` only if one changed something; (dir, {name: count})."""
    from slim.graph.static_program import fix_input_height, open_inference_model

    with open_inference_model(model_dir) as sm:
        if height:
            fix_input_height(sm, height)
        counts = {name: n for name, fn in rewrites.items() if (n := fn(sm))}
        if not counts:
            return Path(model_dir), {}
        sm.save(Path(out_dir) / "inference")
    return Path(out_dir), counts
