"""Scalar affine layers folded into the convolutions next to them.

PP-LCNetV3 (the PP-OCRv4 recognizer's backbone) follows every convolution
with a "learnable affine block", y = s * x + t with two scalar parameters,
and every activation with another one. In the inference model each is an
elementwise_mul and an elementwise_add (56 of each in ch_PP-OCRv4_rec).
Paddle Lite fuses neither into anything: in float they are four passes over
every activation, and in int8 they stand between each convolution and the
next, so no convolution can hand int8 to the following one and each needs a
float output, the affine ops and a `calib` back to int8.

Folded, exactly in real arithmetic (float rounding only):
- after a convolution and its bias: W[o] *= s, b[o] = s * b[o] + t;
- before convolutions that read it unpadded (the pointwise ones): W *= s and
  b[o] += t * sum(W[o]) (with padding the border sums differ, so not there);
- before padded convolutions: W *= s, and t / s stays as one per-channel add;
- any other pair becomes per-channel elementwise ops, which Lite runs on its
  fast broadcast path (a [1]-shaped operand takes the generic one).
"""
from __future__ import annotations

import numpy as np

from slim.graph.static_program import consumers, param, set_param

_CONVS = ("conv2d", "depthwise_conv2d")


def _scalar_operand(sm, op) -> tuple[float, str] | None:
    """(value, other input) of an elementwise op with one scalar parameter operand."""
    if op.type not in ("elementwise_mul", "elementwise_add"):
        return None
    x, y = op.input("X")[0], op.input("Y")[0]
    for const, other in ((y, x), (x, y)):
        a = param(sm, const)
        if a is not None and a.size == 1 and param(sm, other) is None:
            return float(a.ravel()[0]), other
    return None


def _scalar_affines(sm, fetches: set[str]):
    """(mul op, add op, s, t, input name, output name) for each y = s * x + t pair."""
    block = sm.block
    for mul in list(block.ops):
        m = _scalar_operand(sm, mul)
        if m is None or mul.type != "elementwise_mul":
            continue
        mid = mul.output("Out")[0]
        users = consumers(block, mid)
        if mid in fetches or len(users) != 1:
            continue
        a = _scalar_operand(sm, users[0])
        if a is None or users[0].type != "elementwise_add" or a[1] != mid:
            continue
        yield mul, users[0], m[0], a[0], m[1], users[0].output("Out")[0]


def _conv_with_bias(sm, conv) -> tuple[str, str] | None:
    """(filter, bias) names of a conv whose output feeds only its per-channel
    bias add; both parameters used by nothing else."""
    block = sm.block
    if conv.type not in _CONVS:
        return None
    w = conv.input("Filter")[0]
    out = conv.output("Output")[0]
    users = consumers(block, out)
    if param(sm, w) is None or len(users) != 1 or users[0].type != "elementwise_add":
        return None
    add = users[0]
    b = add.input("Y")[0]
    bias = param(sm, b)
    if add.input("X")[0] != out or bias is None or bias.ndim != 1 or add.attr("axis") != 1:
        return None
    if len(consumers(block, w)) != 1 or len(consumers(block, b)) != 1:
        return None
    return w, b


def _fold_after(sm, x: str, s: float, t: float) -> bool:
    """y = s * x + t where x = conv(..) + b: fold into the conv."""
    block = sm.block
    producers = [op for op in block.ops if x in op.output_arg_names]
    if len(producers) != 1 or producers[0].type != "elementwise_add":
        return False
    convs = [op for op in block.ops if producers[0].input("X")[0] in op.output_arg_names]
    if len(convs) != 1 or len(consumers(block, x)) != 1:
        return False
    names = _conv_with_bias(sm, convs[0])
    if names is None or names[1] != producers[0].input("Y")[0]:
        return False
    w, b = names
    set_param(sm, w, param(sm, w) * s)
    set_param(sm, b, param(sm, b) * s + t)
    return True


def _fold_before(sm, y: str, s: float, t: float) -> bool:
    """y = s * x + t read only by unpadded convs with biases: fold into them."""
    users = consumers(sm.block, y)
    if not users:
        return False
    for conv in users:
        if _conv_with_bias(sm, conv) is None or any(conv.attr("paddings")):
            return False
        if (conv.attr("padding_algorithm") or "EXPLICIT") != "EXPLICIT":
            return False
    for conv in users:
        w, b = _conv_with_bias(sm, conv)
        wv = param(sm, w)
        set_param(sm, b, param(sm, b) + t * wv.reshape(wv.shape[0], -1).sum(axis=1))
        set_param(sm, w, wv * s)
    return True


def fold_scalar_affines(sm) -> int:
    """Fold an open StaticModel's scalar affine pairs in place; how many pairs
    were removed or merged."""
    block = sm.block
    fetches = {v.name for v in sm.fetches}
    done = 0
    for mul, add, s, t, x, y in list(_scalar_affines(sm, fetches)):
        if y in fetches:
            continue
        at = list(block.ops).index(mul)
        prefix = f"{mul.output('Out')[0]}.lab"  # read before the op is removed
        if _fold_after(sm, x, s, t) or _fold_before(sm, y, s, t):
            for op in consumers(block, y):
                op._rename_input(y, x)
            block._remove_op(list(block.ops).index(add))
            block._remove_op(at)
        else:
            channels = block.var(x).shape[1] if len(block.var(x).shape) == 4 else -1
            if channels is None or channels <= 0:
                continue
            block._remove_op(list(block.ops).index(add))
            block._remove_op(at)
            if s != 0.0 and _fold_scale_into_convs(sm, y, s):
                s, t = 1.0, t / s  # conv_W(s * x + t) = conv_(s W)(x + t / s), zero padding included
            _per_channel_affine(sm, at, x, y, s, t, channels, prefix)
        done += 1
    return done


def _fold_scale_into_convs(sm, y: str, s: float) -> bool:
    """W *= s for convs that alone read y (zero padding scales with it)."""
    users = consumers(sm.block, y)
    if not users or any(_conv_with_bias(sm, c) is None for c in users):
        return False
    for conv in users:
        w = conv.input("Filter")[0]
        set_param(sm, w, param(sm, w) * s)
    return True


def _per_channel_affine(sm, at: int, x: str, y: str, s: float, t: float, channels: int, prefix: str) -> None:
    """y = s * x + t as per-channel elementwise ops (axis 1), or one add when s is 1.
    Not a `scale` op: Lite's conv_scale_fuse_pass (float programs) folds a scale into
    the conv before it even when that conv has already absorbed the activation in
    between (2.13-rc: the PP-OCRv4 rec's outputs were wrong)."""
    import paddle

    block = sm.block

    def const(name, value):
        v = block.create_var(name=name, shape=[channels], dtype=block.var(x).dtype, persistable=True)
        sm.scope.var(name).get_tensor().set(np.full([channels], value, np.float32), paddle.CPUPlace())
        return v

    src = block.var(x)
    if s != 1.0:
        mid = block.create_var(name=f"{prefix}.scaled", shape=src.shape, dtype=src.dtype)
        block._insert_op(at, type="elementwise_mul", inputs={"X": [src], "Y": [const(f"{prefix}.s", s)]},
                         outputs={"Out": [mid]}, attrs={"axis": 1})
        src, at = mid, at + 1
    block._insert_op(at, type="elementwise_add", inputs={"X": [src], "Y": [const(f"{prefix}.t", t)]},
                     outputs={"Out": [block.var(y)]}, attrs={"axis": 1})
