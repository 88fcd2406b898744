"""Depthwise convolutions with stride (2, 1) rewritten for Paddle Lite's ARM kernels.

The v2.0 recognizers and direction classifier (and PP-LCNet backbones) halve
the height only, with depthwise convolutions of stride (2, 1). Paddle Lite's
ARM depthwise kernels take equal strides of 1 or 2; any other stride falls
back to im2col plus one GEMM per channel, which on the Cortex-A76 path costs
about 10x a stride-1 depthwise convolution of the same input, in float and in
int8 alike. For en_number_mobile_v2.0_rec those three layers are a third of
all ARM instructions, and int8 cannot help them.

The rewrite is exact: a depthwise convolution of stride (2, 1) and "same"
padding gives row i of the stride-1 output's row 2i. So the convolution runs
at stride 1, then the per-element ops that follow it (batch norm, bias,
activation: opt fuses them into the convolution) run, then every second row
is kept by reshape2 [N, C*H/2, 2, W] -> split on axis 2 -> reshape2
[N, C, H/2, W], which Lite does with memcpy. An odd height H keeps rows
0, 2, .., H-1: split into single rows, concat of the even ones (the v2.0
cls's fourth such layer sees 3 rows). Width stays free (variable-width
recognizers); the height must be static, or the layer is left alone.
"""
from __future__ import annotations

from slim.graph.static_program import consumers


# Ops that act on each element (or channel) alone: the rows can be dropped after them.
# The dequantize ops of a PTQ or QAT program scale per channel or per tensor.
_ELEMENTWISE = {"batch_norm", "relu", "relu6", "hard_swish", "hardswish", "swish", "hard_sigmoid",
                "sigmoid", "leaky_relu", "scale", "elementwise_add",
                "fake_channel_wise_dequantize_max_abs", "fake_dequantize_max_abs", "dequantize_linear"}


def _is_per_channel_add(block, op) -> bool:
    """elementwise_add of a conv bias: Y is a persistable 1-D tensor."""
    if op.type != "elementwise_add":
        return True
    y = block.var(op.input("Y")[0])
    return bool(y.persistable) and len(y.shape) == 1


def _candidate(block, op) -> tuple[int, int] | None:
    """(channels, input height) of a rewritable depthwise conv, else None."""
    if op.type not in ("depthwise_conv2d", "conv2d"):
        return None
    if list(op.attr("strides")) != [2, 1] or list(op.attr("dilations") or [1, 1]) != [1, 1]:
        return None
    if (op.attr("data_format") or "NCHW") not in ("NCHW", "AnyLayout"):
        return None
    if op.input("Filter")[0] not in block.vars or op.input("Input")[0] not in block.vars:
        return None
    w = block.var(op.input("Filter")[0]).shape
    x = block.var(op.input("Input")[0]).shape
    groups = op.attr("groups") or 1
    if groups != w[0] or w[1] != 1 or len(x) != 4 or x[1] != w[0]:
        return None  # not depthwise
    kh = w[2]
    pads = list(op.attr("paddings"))
    algo = op.attr("padding_algorithm") or "EXPLICIT"
    if algo != "EXPLICIT" or kh % 2 == 0:
        return None
    if (len(pads) == 4 and pads[0] != pads[1]) or pads[0] != (kh - 1) // 2:
        return None  # not "same" padding in height
    h = x[2]
    if h is None or h <= 0:
        return None
    return w[0], h


def rewrite_strided_depthwise(sm) -> int:
    """Rewrite an open StaticModel's stride-(2, 1) depthwise convs in place; how
    many. Called through slim.kernel_rewrites.rewrite_for_arm_kernels."""
    done = 0
    block = sm.block
    fetch_names = {v.name for v in sm.fetches}
    for op in list(block.ops):
        shape = _candidate(block, op)
        if shape is None:
            continue
        c, h = shape
        # Walk the chain of per-element ops the conv's output feeds, one consumer each;
        # the rows are dropped after `writer`, the chain's last op, before all of `users`.
        writer, tail = op, op.output("Output")[0]
        chain = [tail]
        while tail not in fetch_names:
            users = consumers(block, tail)
            if len(users) != 1 or users[0].type not in _ELEMENTWISE or not _is_per_channel_add(block, users[0]):
                break
            writer = users[0]
            tail = (writer.output("Y") if writer.type == "batch_norm" else writer.output("Out"))[0]
            chain.append(tail)
        if tail in fetch_names or not users:
            continue
        op._set_attr("strides", [1, 1])
        done += 1
        if h == 1:
            continue  # one row in, one row out: stride 1 is the same conv
        for name in chain:  # the stride-1 chain keeps the full height
            v = block.var(name)
            if len(v.shape) == 4:
                v.desc.set_shape([v.shape[0], v.shape[1], h, v.shape[3]])
        at = list(block.ops).index(writer) + 1
        kept = (_keep_even_rows if h % 2 == 0 else _keep_even_rows_odd)(block, at, block.var(tail), c, h)
        for u in users:
            u._rename_input(tail, kept.name)
    return done


def _keep_even_rows(block, at: int, x, c: int, h: int):
    """Ops at `at`: rows 0, 2, .., h-2 of x [N, c, h, W], h even."""
    mk = lambda suffix, shp: block.create_var(name=f"{x.name}.rows_{suffix}", shape=shp, dtype=x.dtype)  # noqa: E731
    r1, r1x = mk("pairs", [-1, c * h // 2, 2, -1]), mk("pairs_x", [0, -1, c, h, -1])
    even, odd = mk("even", [-1, c * h // 2, 1, -1]), mk("odd", [-1, c * h // 2, 1, -1])
    sub, subx = mk("kept", [-1, c, h // 2, -1]), mk("kept_x", [0, -1, c * h // 2, 1, -1])
    block._insert_op(at, type="reshape2", inputs={"X": [x]},
                     outputs={"Out": [r1], "XShape": [r1x]}, attrs={"shape": [0, c * h // 2, 2, -1]})
    block._insert_op(at + 1, type="split", inputs={"X": [r1]}, outputs={"Out": [even, odd]},
                     attrs={"axis": 2, "num": 2, "sections": []})
    block._insert_op(at + 2, type="reshape2", inputs={"X": [even]},
                     outputs={"Out": [sub], "XShape": [subx]}, attrs={"shape": [0, c, h // 2, -1]})
    return sub


def _keep_even_rows_odd(block, at: int, x, c: int, h: int):
    """Ops at `at`: rows 0, 2, .., h-1 of x [N, c, h, W], h odd: split into
    single rows, concat the even ones (both memcpy in Lite)."""
    rows = [block.create_var(name=f"{x.name}.row{i}", shape=[-1, c, 1, -1], dtype=x.dtype) for i in range(h)]
    sub = block.create_var(name=f"{x.name}.rows_kept", shape=[-1, c, (h + 1) // 2, -1], dtype=x.dtype)
    block._insert_op(at, type="split", inputs={"X": [x]}, outputs={"Out": rows},
                     attrs={"axis": 2, "num": h, "sections": []})
    block._insert_op(at + 1, type="concat", inputs={"X": rows[::2]}, outputs={"Out": [sub]}, attrs={"axis": 2})
    return sub
