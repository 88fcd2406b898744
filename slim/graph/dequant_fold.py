"""A frozen PaddleSlim int8 program made fast for Paddle Inference on x86.

PTQ's frozen program computes each quantized layer on integer-valued inputs
and weights and rescales its output with `fake_channel_wise_dequantize_max_abs`
(out = conv(xq, wq) * s_w[c] * s_x / 127^2). On x86 that op runs about 3.5x
slower than the whole rest of the cls model, and it keeps oneDNN from fusing
the conv with its batch norm. Folding the two scales into the weights,
conv(xq, wq * s_w[c] * s_x / 127^2), is the same arithmetic up to float
rounding, so candidates are ranked on this form; the `.nb` is still compiled
from the frozen program itself."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from slim.graph.static_program import consumer_map, open_inference_model, param, producers, set_param

DEQUANT = "fake_channel_wise_dequantize_max_abs"
OUT_AXIS = {"conv2d": 0, "depthwise_conv2d": 0, "mul": 1, "matmul_v2": 1}  # a weight's output-channel axis


def fold_dequantize(qdir: Path, out_dir: Path) -> tuple[Path, int]:
    """Writes the folded program to `out_dir`; returns it and the number of ops folded."""
    folded = 0
    with open_inference_model(qdir) as sm:
        block = sm.block
        made, readers = producers(block), consumer_map(block)  # a fold renames only the reads of its own output
        fetched = {v.name for v in sm.fetches}
        for deq in [op for op in block.ops if op.type == DEQUANT]:
            scales = deq.input("Scales")
            layer = made.get(deq.input("X")[0])
            if layer is None or layer.type not in OUT_AXIS or len(scales) != 2 or deq.attr("quant_bits") != [8, 8]:
                continue
            if layer.type == "matmul_v2" and (layer.attr("trans_y") or layer.attr("trans_x")):
                continue
            w_name = layer.input("Filter" if "Filter" in layer.input_names else "Y")[0]
            w, s_w, s_x = param(sm, w_name), param(sm, scales[0]), param(sm, scales[1])
            out = deq.output("Out")[0]
            if w is None or s_w is None or s_x is None or len(readers.get(w_name, ())) != 1 or out in fetched:
                continue
            shape = [1] * w.ndim
            shape[OUT_AXIS[layer.type]] = -1
            set_param(sm, w_name, w * (s_w.reshape(shape) * (float(s_x.reshape(-1)[0]) / (127.0 * 127.0))))
            for c in readers.get(out, ()):
                c._rename_input(out, deq.input("X")[0])
            folded += 1
        out_dir.mkdir(parents=True, exist_ok=True)
        sm.save(out_dir / "inference")
    return out_dir, folded
