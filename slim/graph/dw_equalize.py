"""Per-channel equalization of the inputs of depthwise convolutions, before PTQ.

Paddle Lite quantizes a convolution's input with one scale for the whole
tensor. In MobileNet-style backbones the input of a depthwise conv (a
hard_swish output) has channels whose ranges differ by 10-100x (PP-LCNetV3
in ch_PP-OCRv4_rec: the median channel peaks at 7-20 % of the largest), so
most channels get a handful of the 255 levels: 17-24 dB signal to
quantization noise at those inputs, against 30-40 dB elsewhere.

A depthwise conv reads each channel on its own, so dividing input channel
c by r_c and multiplying that channel's filter by r_c changes nothing in
real arithmetic (zero padding scales too). With r_c = (channel peak /
tensor peak) on calibration crops every channel spans the int8 range; the
division is one per-channel elementwise_mul (axis 1, Lite's fast broadcast
path) before the conv, and the filter, quantized per output channel, loses
nothing.

Pointwise (1x1) convs are left alone: they mix channels and their filters
are quantized per output channel, so scaling input column c moves the
spread into the weights. On ch_PP-OCRv4_rec, full equalization there was
worse than none, and partial (SmoothQuant's alpha 0.3, 0.5) moved accuracy
by no more than the noise of a few hundred words, in both directions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

FLOOR = 1e-2  # a channel that is all but silent is raised at most 100x


def _depthwise_inputs(sm) -> list:
    """(conv op, input name) of the depthwise convs whose input only they read and that is not the feed."""
    from slim.graph.static_program import consumers, param

    out = []
    for op in sm.block.ops:
        if op.type not in ("depthwise_conv2d", "conv2d"):
            continue
        w = param(sm, op.input("Filter")[0])
        if w is None:
            continue
        x = op.input("Input")[0]
        if not (w.shape[1] == 1 and op.attr("groups") == w.shape[0] > 1):
            continue
        if x in sm.feeds or len(consumers(sm.block, x)) != 1:
            continue
        out.append((op, x))
    return out


def channel_peaks(sm, names: list[str], calib: np.ndarray, batch_size: int = 16) -> list[np.ndarray]:
    """Per-channel max |x| of each named NCHW tensor over the calibration crops."""
    peaks = [None] * len(names)
    for i in range(0, len(calib), batch_size):
        outs = sm.exe.run(sm.prog, feed={sm.feeds[0]: calib[i:i + batch_size]}, fetch_list=names, scope=sm.scope)
        for j, o in enumerate(outs):
            p = np.abs(o).max(axis=(0, 2, 3))
            peaks[j] = p if peaks[j] is None else np.maximum(peaks[j], p)
    return peaks


def equalize_depthwise_inputs(sm, calib: np.ndarray, batch_size: int = 16) -> int:
    """Equalize an open StaticModel in place; how many depthwise inputs were equalized."""
    import paddle

    from slim.graph.static_program import param, set_param

    block = sm.block
    convs = _depthwise_inputs(sm)
    if not convs:
        return 0
    done = 0
    for (conv, x), peak in zip(convs, channel_peaks(sm, [x for _, x in convs], calib, batch_size)):
        if peak.max() <= 0:
            continue
        r = np.maximum(peak / peak.max(), FLOOR).astype(np.float32)
        w = conv.input("Filter")[0]  # filter c reads input channel c alone
        set_param(sm, w, param(sm, w) * r[:, None, None, None])
        inv = block.create_var(name=f"{x}.eq_inv", shape=[len(r)], dtype=block.var(x).dtype, persistable=True)
        sm.scope.var(inv.name).get_tensor().set(1.0 / r, paddle.CPUPlace())
        mid = block.create_var(name=f"{x}.eq", shape=block.var(x).shape, dtype=block.var(x).dtype)
        block._insert_op(list(block.ops).index(conv), type="elementwise_mul",
                         inputs={"X": [block.var(x)], "Y": [inv]}, outputs={"Out": [mid]}, attrs={"axis": 1})
        conv._rename_input(x, mid.name)
        done += 1
    return done


def equalize_model(model_dir: str | Path, out_dir: str | Path, calib: np.ndarray) -> tuple[Path, int]:
    """`model_dir` with its depthwise inputs equalized on `calib`, written to
    `out_dir`; (model_dir, 0) without writing when it has none."""
    from slim.graph.kernel_rewrites import apply_rewrites  # the same open, transform, save-if-changed as the folds

    d, counts = apply_rewrites(model_dir, out_dir, {"dw": lambda sm: equalize_depthwise_inputs(sm, calib)}, None)
    return d, counts.get("dw", 0)
