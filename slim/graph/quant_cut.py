"""Models with some layers back in float, cut out of the fully quantized one.

PaddleSlim's PTQ samples every activation on the float model, and each
weight's scale is its own, so quantizing with some layers in
`skip_tensor_list` gives the remaining layers the same scales as quantizing
all of them. The per-layer sensitivity scan (one layer int8) and the mixed
precision candidates (a few layers float) therefore calibrate once and undo
the quantization of the chosen layers in the frozen program: their inputs
read the float activation again, their weights get their float values back,
and the dequantize op after them is bypassed; saving prunes what no one
reads. That replaces one calibration per model (seconds each) with a rewrite;
the program equals PaddleSlim's but for variable names."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from slim.graph.static_program import consumers, open_inference_model, producers, set_param

WEIGHT_SLOTS = ("Filter", "Y")


class CannotCut(Exception):
    """The frozen program has a shape this rewrite does not know; quantize the layer alone instead."""


@lru_cache(maxsize=2)
def _float_weights(float_dir: str) -> dict[str, np.ndarray]:
    from slim.nets.weights import inference_params

    return dict(inference_params(float_dir))


def keep_one_layer(quant_dir: Path, float_dir: Path, weight: str, op_types: list[str], out_dir: Path) -> Path:
    """Writes to `out_dir` the quantized model of `quant_dir` with every
    quantized op of `op_types` but the one reading `weight` back in float."""
    return dequantize_layers(quant_dir, float_dir, lambda w: w != weight, op_types, out_dir, must_keep=weight)


def dequantize_layers(quant_dir: Path, float_dir: Path, back_to_float, op_types: list[str], out_dir: Path,
                      must_keep: str | None = None) -> Path:
    """Writes to `out_dir` the quantized model of `quant_dir` with the
    quantized ops of `op_types` whose weight `back_to_float(name)` picks in float again."""
    floats = _float_weights(str(float_dir))
    with open_inference_model(quant_dir) as sm:
        block = sm.block
        made = producers(block)
        fetched = {v.name for v in sm.fetches}
        kept = False
        for op in list(block.ops):
            if op.type not in op_types:
                continue
            w = next((n for s in WEIGHT_SLOTS if s in op.input_names for n in op.input(s) if n in floats), None)
            if w is None:
                continue
            if not back_to_float(w):
                kept = kept or w == must_keep
                continue
            quantized = [n for n in op.input_arg_names if made.get(n) is not None
                         and made[n].type.startswith("fake_quantize")]
            if not quantized:
                continue  # PTQ left it float (an input it does not quantize)
            for n in quantized:
                op._rename_input(n, made[n].input("X")[0])
            set_param(sm, w, floats[w])
            for out in op.output_arg_names:
                deq = [c for c in consumers(block, out) if "dequantize" in c.type]
                if len(deq) != 1 or any(o in fetched for o in deq[0].output_arg_names):
                    raise CannotCut(f"{op.type} {w}: its dequantize op is not the single one, or it is a model output")
                for d_out in deq[0].output_arg_names:
                    for c in consumers(block, d_out):
                        c._rename_input(d_out, out)
        if must_keep and not kept:
            raise CannotCut(f"{must_keep}: no quantized {'/'.join(op_types)} op reads it")
        _fetch_before_saved_scale(sm)
        out_dir.mkdir(parents=True, exist_ok=True)
        sm.save(out_dir / "inference")
    return out_dir


def _fetch_before_saved_scale(sm) -> None:
    """Saving puts a `scale` (x1) op before each fetch, and the program already
    ends in the one PaddleSlim's save put there: fetch what that one reads, so
    the cut program, and its `.nb`, keep a single one."""
    made = producers(sm.block)
    fetches = []
    for v in sm.fetches:
        op = made.get(v.name)
        if (op is not None and op.type == "scale" and v.name.startswith("save_infer_model/")
                and op.attr("scale") == 1.0 and op.attr("bias") == 0.0):
            v = sm.block.var(op.input("X")[0])
        fetches.append(v)
    sm.fetches = fetches
