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

from lite.model_dir import ModelBuffers

from slim.graph.static_program import (consumer_map, drop_dead_ops, open_inference_model, param, producers,
                                        serialized_params, set_param, static_mode)

WEIGHT_SLOTS = ("Filter", "Y")


class CannotCut(Exception):
    """The frozen program has a shape this rewrite does not know; quantize the layer alone instead."""


@lru_cache(maxsize=2)
def _float_weights(float_dir: str) -> dict[str, np.ndarray]:
    from slim.nets.weights import inference_params

    return dict(inference_params(float_dir))


def dequantize_layers(quant_dir: Path, float_dir: Path, back_to_float, op_types: list[str], out_dir: Path) -> Path:
    """Writes to `out_dir` the quantized model of `quant_dir` with the
    quantized ops of `op_types` whose weight `back_to_float(name)` picks in float again."""
    floats = _float_weights(str(float_dir))
    with open_inference_model(quant_dir) as sm:
        block = sm.block
        made, readers, fetched = producers(block), consumer_map(block), {v.name for v in sm.fetches}
        for op, w, quantized in _quantized_ops(block, floats, op_types, made):
            if back_to_float(w):
                _undo(op, w, quantized, made, readers, fetched)
                set_param(sm, w, floats[w])
        _fetch_before_saved_scale(sm)
        out_dir.mkdir(parents=True, exist_ok=True)
        sm.save(out_dir / "inference")
    return out_dir


def activation_scales(quant_dir: Path, float_dir: Path | None, op_types: list[str]) -> dict[str, float]:
    """{weight: the abs-max scale of its op's quantized input}, in op order,
    for each quantized op of `op_types` in `quant_dir` reading a weight of
    `float_dir` (None: any weight). QAT can start from a PTQ model's."""
    floats = _float_weights(str(float_dir)) if float_dir else None
    with open_inference_model(quant_dir) as sm:
        made = producers(sm.block)
        return {w: float(np.asarray(param(sm, made[quantized[0]].input("InScale")[0])).ravel()[0])
                for _, w, quantized in _quantized_ops(sm.block, floats, op_types, made)}


class OneLayerCuts:
    """The one-layer models of one fully quantized program (every quantized
    op of `op_types` but one back in float), in memory for Paddle Inference.
    The program is opened once with each quantized weight's int8 values under
    a second name and its float values under its own, so every cut shares one
    parameter buffer and costs a ~0.1 s rewrite; saving and reloading a copy
    per layer took 0.5 s, the scan's largest cost after scoring."""

    SUFFIX = "@int8"

    def __init__(self, quant_dir: Path, float_dir: Path, op_types: list[str]):
        import paddle

        floats = _float_weights(str(float_dir))
        with open_inference_model(quant_dir) as sm:
            block = sm.block
            self.layers = []
            for op, w, _ in _quantized_ops(block, floats, op_types, producers(block)):
                v = block.var(w)
                block.create_var(name=w + self.SUFFIX, shape=v.shape, dtype=v.dtype, persistable=True)
                sm.scope.var(w + self.SUFFIX).get_tensor().set(param(sm, w), paddle.CPUPlace())
                set_param(sm, w, floats[w])
                op._rename_input(w, w + self.SUFFIX)
                self.layers.append(w)
            self.params = serialized_params(sm)
            self.program, self.fetched = sm.prog, {v.name for v in sm.fetches}
        self.op_types, self.name = op_types, Path(quant_dir).name

    def model(self, weight: str) -> ModelBuffers:
        """PaddleSlim's PTQ with every layer but `weight`'s skipped (the same arithmetic)."""
        if weight not in self.layers:
            raise CannotCut(f"{weight}: no quantized {'/'.join(self.op_types)} op reads it")
        with static_mode():
            prog = self.program.clone()
            block = prog.global_block()
            made, readers = producers(block), consumer_map(block)
            for op in list(block.ops):
                if op.type not in self.op_types:
                    continue
                int8 = [n for n in op.input_arg_names if n.endswith(self.SUFFIX) and n != weight + self.SUFFIX]
                for n in int8:
                    w = n[:-len(self.SUFFIX)]
                    op._rename_input(n, w)
                    _undo(op, w, _quantized_inputs(op, made), made, readers, self.fetched)
            drop_dead_ops(block)
            return ModelBuffers(prog.desc.serialize_to_string(), self.params, f"{self.name} with only {weight} int8")


def _quantized_inputs(op, made: dict) -> list[str]:
    return [n for n in op.input_arg_names if made.get(n) is not None and made[n].type.startswith("fake_quantize")]


def _quantized_ops(block, floats: dict, op_types: list[str], made: dict) -> list[tuple]:
    """(op, weight, its quantized inputs) for each op of `op_types` reading
    a float-model weight whose input PTQ quantized (it leaves some float)."""
    found = []
    for op in block.ops:
        if op.type not in op_types:
            continue
        w = next((n for s in WEIGHT_SLOTS if s in op.input_names for n in op.input(s)
                  if floats is None or n in floats), None)
        quantized = _quantized_inputs(op, made)
        if w is not None and quantized:
            found.append((op, w, quantized))
    return found


def _undo(op, w: str, quantized: list[str], made: dict, readers: dict, fetched: set) -> None:
    """`op` reads the float activations again and its dequantize op is
    bypassed (the caller restores its weight); the quantize and dequantize
    ops are left for saving, or drop_dead_ops, to prune."""
    for n in quantized:
        op._rename_input(n, made[n].input("X")[0])
    for out in op.output_arg_names:
        deq = [c for c in readers.get(out, ()) if "dequantize" in c.type]
        if len(deq) != 1 or any(o in fetched for o in deq[0].output_arg_names):
            raise CannotCut(f"{op.type} {w}: its dequantize op is not the single one, or it is a model output")
        for d_out in deq[0].output_arg_names:
            for c in readers.get(d_out, ()):
                c._rename_input(d_out, out)


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
