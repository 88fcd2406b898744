"""Full-height pools (slim/graph/pool_rows.py) and the combined kernel rewrites
(slim/graph/kernel_rewrites.py): the pool rewrite bit-exact on ARM, both cheaper, left
alone where they cannot apply."""
from __future__ import annotations

import numpy as np

from .conftest import CLS_MODEL, need
from .test_dw_stride import _arm, _inference, _ops


def test_cls_final_pool_is_exact_and_cheaper(tmp_path):
    from lite.opt import opt
    from slim.graph.kernel_rewrites import rewrite_for_arm_kernels

    src = need(CLS_MODEL / "inference.pdmodel").parent
    only = ("full_height_pools",)
    _, free = rewrite_for_arm_kernels(src, tmp_path / "free", only=only)
    out, counts = rewrite_for_arm_kernels(src, tmp_path / "pool", height=48, only=only)
    assert free == {}  # a free height: the pool's window is not known to span it
    assert counts == {"full_height_pools": 1}  # the 2x2 stride-2 max pool over 2 rows
    pool = next(op for op in _ops(out) if op.type == "pool2d" and op.attr("pooling_type") == "max")
    assert pool.input("X")[0].endswith(".taller")
    x = np.random.RandomState(4).uniform(-1, 1, (6, 3, 48, 192)).astype(np.float32)
    for a, b in zip(_inference(src, x), _inference(out, x)):
        assert np.array_equal(a, b)
    (ref, ref_instr), (got, got_instr) = (_arm(opt(d, target="arm", out=tmp_path / f"{d.name}.nb"), x)
                                          for d in (src, out))
    assert np.array_equal(ref, got)  # a max over the same four values
    assert got_instr < 0.85 * ref_instr, (got_instr, ref_instr)


def test_both_rewrites_halve_the_float_cls(tmp_path):
    from lite.opt import opt
    from slim.graph.kernel_rewrites import rewrite_for_arm_kernels

    src = need(CLS_MODEL / "inference.pdmodel").parent
    out, counts = rewrite_for_arm_kernels(src, tmp_path / "all", height=48)
    assert counts == {"strided_depthwise": 4, "full_height_pools": 1}
    x = np.random.RandomState(5).uniform(-1, 1, (6, 3, 48, 192)).astype(np.float32)
    (ref, ref_instr), (got, got_instr) = (_arm(opt(d, target="arm", out=tmp_path / f"{d.name}.nb"), x)
                                          for d in (src, out))
    assert np.abs(ref - got).max() < 1e-5
    assert got_instr < 0.55 * ref_instr, (got_instr, ref_instr)  # measured 0.49x
