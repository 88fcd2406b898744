"""PP-LCNetV3's scalar affine blocks folded (slim/graph/affine_fold.py): the same
outputs on Paddle Inference and on the ARM `.nb`, far fewer ARM instructions,
and nothing done to models without them."""
from __future__ import annotations

from collections import Counter

import numpy as np

from .conftest import CLS_MODEL, SHARED, need
from .test_dw_stride import _arm, _inference, _ops

V4_REC = SHARED / "models" / "ch_PP-OCRv4_rec" / "inference.pdmodel"


def test_v4_rec_affines_fold_exactly_and_pay(tmp_path):
    from lite.opt import opt
    from slim.graph.kernel_rewrites import fold_float_model

    src = need(V4_REC).parent
    out, counts = fold_float_model(src, tmp_path / "folded")
    assert counts == {"scalar_affines": 56}  # one after each of the 28 convs, one after each activation
    before, after = Counter(op.type for op in _ops(src)), Counter(op.type for op in _ops(out))
    # 40 pairs went into the convs beside them (each conv's own, and those before a pointwise
    # conv); 13 before a padded depthwise conv left one per-channel add (s went into the conv);
    # 3 read by an SE block or the last pool became per-channel mul + add; no `scale` op
    assert before["elementwise_mul"] - after["elementwise_mul"] == 56 - 3
    assert before["elementwise_add"] - after["elementwise_add"] == 56 - 13 - 3
    assert after["scale"] - before["scale"] == 1  # save_inference_model's own, before the fetch
    x = np.random.RandomState(7).uniform(-1, 1, (2, 3, 48, 96)).astype(np.float32)
    for a, b in zip(_inference(src, x), _inference(out, x)):
        assert a.shape == b.shape == (2, 12, 6625)
        assert np.abs(a - b).max() < 1e-5  # softmax outputs; measured 1.8e-6
        assert (a.argmax(-1) == b.argmax(-1)).all()
    (ref, ref_instr), (got, got_instr) = (_arm(opt(d, target="arm", out=tmp_path / f"{d.name}.nb"), x[:1])
                                          for d in (src, out))
    assert np.abs(ref - got).max() < 1e-5
    # Lite runs a [1]-shaped elementwise operand through its generic broadcast path
    assert got_instr < 0.4 * ref_instr, (got_instr, ref_instr)  # measured 0.29x at 48x160


def test_models_without_scalar_affines_are_left_alone(tmp_path):
    from slim.graph.kernel_rewrites import fold_float_model

    src = need(CLS_MODEL / "inference.pdmodel").parent
    out, counts = fold_float_model(src, tmp_path / "cls")
    assert (out, counts) == (src, {})
    assert not (tmp_path / "cls").exists()
