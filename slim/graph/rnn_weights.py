"""LSTM weights stored as int8: a rewrite of an inference program.

Paddle Lite has no int8 kernel for the `rnn` op and its weight-only
quantization (opt --quant_model) skips it, so after PTQ a CRNN's BiLSTM
keeps 40 % of the model's bytes in float. Here each 2-D weight of an `rnn`
op becomes an int8 tensor with one scale per row (abs-max / 127, as
channel-wise weight quantization does) plus `cast` and `elementwise_mul`
ops that rebuild the float weight when the model runs. The int8 values are
stored offset by 128 as uint8: Lite's host cast kernel reads int8 through
`char`, which is unsigned on ARM Linux, so negative weights would come back
as 129..255 there. Lite's rnn kernel
reads its WeightList on every run, so the rebuilt tensors feed it as they
are; the arithmetic stays float, only the storage shrinks. Biases stay float.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np



def quantize_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights, float32 per-row scales [rows, 1]) with w ~= q * scale."""
    scale = np.abs(w).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def int8_rnn_weights(model_dir: str | Path, out_dir: str | Path) -> Path:
    """Write `model_dir` with its rnn weights stored as int8 to `out_dir`
    (inference.pdmodel/.pdiparams); a model without rnn ops is copied as is."""
    import paddle
    from paddle.base import core

    from slim.graph.static_program import open_inference_model

    out_dir = Path(out_dir)
    with open_inference_model(model_dir) as sm:
        block, scope = sm.block, sm.scope
        i = 0
        while i < len(block.ops):
            op = block.ops[i]
            if op.type != "rnn":
                i += 1
                continue
            names = op.input("WeightList")
            new_names = []
            for name in names:
                w = np.array(scope.find_var(name).get_tensor())
                if w.ndim != 2:
                    new_names.append(name)
                    continue
                q, s = quantize_rows(w)
                q = (q.astype(np.int16) + 128).astype(np.uint8)
                qv = block.create_var(name=name + ".u8", shape=q.shape, dtype="uint8", persistable=True)
                s = s.reshape(-1)  # [rows] at axis 0: the broadcast every Lite elementwise kernel takes
                sv = block.create_var(name=name + ".scale", shape=s.shape, dtype="float32", persistable=True)
                fv = block.create_var(name=name + ".f", shape=q.shape, dtype="float32")
                cv = block.create_var(name=name + ".c", shape=q.shape, dtype="float32")
                dv = block.create_var(name=name + ".deq", shape=q.shape, dtype="float32")
                scope.var(qv.name).get_tensor().set(q, paddle.CPUPlace())
                scope.var(sv.name).get_tensor().set(s, paddle.CPUPlace())
                block._insert_op(i, type="cast", inputs={"X": [qv]}, outputs={"Out": [fv]},
                                 attrs={"in_dtype": core.VarDesc.VarType.UINT8, "out_dtype": core.VarDesc.VarType.FP32})
                block._insert_op(i + 1, type="scale", inputs={"X": [fv]}, outputs={"Out": [cv]},
                                 attrs={"scale": 1.0, "bias": -128.0, "bias_after_scale": True})
                block._insert_op(i + 2, type="elementwise_mul", inputs={"X": [cv], "Y": [sv]}, outputs={"Out": [dv]},
                                 attrs={"axis": 0})
                i += 3
                new_names.append(dv.name)
            op.desc.set_input("WeightList", new_names)
            for name in names:
                if name not in new_names:
                    block._remove_var(name)
            i += 1
        sm.save(out_dir / "inference")
    return out_dir
