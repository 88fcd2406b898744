"""Pools whose window spans the whole height, rewritten for Paddle Lite's ARM kernels.

Lite's ARM pool2d takes its NEON kernels (2x2 stride 2, 3x3 stride 2, ..)
only when the input is larger than the window in both dims
(lite/kernels/arm/pool_compute.cc, `win_ksize`). A pool whose window is as
tall as its input (the v2.0 cls ends with a 2x2 stride-2 max pool over 2
rows) falls to `pooling_basic`, which compares the pooling type as a
std::string for every input element: about 240 instructions an element, a
third of the int8 cls.

The rewrite is exact: one more row (a copy of the last) is appended with
slice + concat (memcpy in Lite). With no padding and floor rounding the
output still has one row, made from the same rows as before; the copy is
never read. The input height must be static (the task fixes it).
"""
from __future__ import annotations


def _candidate(block, op) -> int | None:
    """The input height of a pool the rewrite applies to, else None."""
    if op.type != "pool2d" or op.attr("global_pooling") or op.attr("adaptive") or op.attr("ceil_mode"):
        return None
    if (op.attr("padding_algorithm") or "EXPLICIT") != "EXPLICIT" or any(op.attr("paddings")):
        return None
    if (op.attr("data_format") or "NCHW") not in ("NCHW", "AnyLayout"):
        return None
    k, s = list(op.attr("ksize")), list(op.attr("strides"))
    if k[0] != k[1] or s[0] != s[1] or k[0] not in (2, 3):
        return None  # only shapes Lite has a kernel for once the input is taller
    x = block.var(op.input("X")[0])
    if len(x.shape) != 4 or x.shape[2] != k[0]:
        return None
    return x.shape[2]


def pad_full_height_pools(sm) -> int:
    """Rewrite an open StaticModel's full-height pools in place; how many."""
    block = sm.block
    done = 0
    for op in list(block.ops):
        h = _candidate(block, op)
        if h is None:
            continue
        x = block.var(op.input("X")[0])
        at = list(block.ops).index(op)
        last = block.create_var(name=f"{x.name}.last_row", shape=[x.shape[0], x.shape[1], 1, x.shape[3]],
                                dtype=x.dtype)
        taller = block.create_var(name=f"{x.name}.taller", shape=[x.shape[0], x.shape[1], h + 1, x.shape[3]],
                                  dtype=x.dtype)
        block._insert_op(at, type="slice", inputs={"Input": [x]}, outputs={"Out": [last]},
                         attrs={"axes": [2], "starts": [h - 1], "ends": [h], "decrease_axis": [],
                                "infer_flags": [1]})
        block._insert_op(at + 1, type="concat", inputs={"X": [x, last]}, outputs={"Out": [taller]},
                         attrs={"axis": 2})
        op._rename_input(x.name, taller.name)
        done += 1
    return done
