"""The stride-(2, 1) depthwise split (slim/graph/dw_stride.py): exact on Paddle
Inference and on the ARM `.nb`, fewer ARM instructions, and left alone where
it cannot apply."""
from __future__ import annotations

import numpy as np

from .conftest import CLS_MODEL, SHARED, need

EN_ONNX = SHARED / "models" / "en_number_mobile_v2.0_rec" / "model.onnx"


def _inference(d, x):
    from lite.parity import paddle_inference

    return [next(iter(paddle_inference(str(d), [[x]], ir_optim=ir)[0].values())) for ir in (True, False)]


def split_strided_depthwise(src, out, height=None):
    """The depthwise rewrite alone: (dir, layers rewritten)."""
    from slim.graph.kernel_rewrites import rewrite_for_arm_kernels

    d, counts = rewrite_for_arm_kernels(src, out, height, only=("strided_depthwise",))
    return d, counts.get("strided_depthwise", 0)


def _ops(d):
    from slim.graph.static_program import open_inference_model

    with open_inference_model(d) as sm:
        return list(sm.block.ops)


def _arm(nb, x):
    from lite.targets import get_target

    with get_target("arm64-emu", cpu="cortex-a76", count=True).load(str(nb)) as s:
        out = next(iter(s.run({"x": x}).values()))
        return np.array(out), s.last_run_instructions()


def test_rec_split_is_exact_and_cheaper(tmp_path):
    from lite.opt import opt
    from slim.families.model_source import export_inference, load_rec

    _, net = load_rec(str(need(EN_ONNX)))
    src = export_inference(net, tmp_path / "en", [None, 3, 32, None])
    out, n = split_strided_depthwise(src, tmp_path / "en_dw")
    assert n == 3  # blocks 1, 3 and 8 of the v2.0 rec MobileNetV3 halve the height only
    x = np.random.RandomState(0).uniform(-1, 1, (2, 3, 32, 200)).astype(np.float32)
    for a, b in zip(_inference(src, x), _inference(out, x)):
        assert a.shape == b.shape == (2, 50, 97)
        assert np.abs(a - b).max() < 1e-5
    x1 = x[:1, :, :, :184]  # the .nb keeps variable width
    (ref, ref_instr), (got, got_instr) = (_arm(opt(d, target="arm", out=tmp_path / f"{d.name}.nb"), x1)
                                          for d in (src, out))
    assert np.abs(ref - got).max() < 1e-5
    assert got_instr < 0.85 * ref_instr, (got_instr, ref_instr)


def test_cls_needs_its_height_and_takes_odd_rows(tmp_path):
    from lite.opt import opt

    src = need(CLS_MODEL / "inference.pdmodel").parent
    _, n_free = split_strided_depthwise(src, tmp_path / "free")
    assert n_free == 0  # saved with a free height: nothing can be baked in
    out, n = split_strided_depthwise(src, tmp_path / "h48", height=48)
    assert n == 4  # heights 24, 12, 6, and 3: rows 0 and 2 kept by split + concat
    ops = [op.type for op in _ops(out)]
    assert ops.count("concat") == 1 and ops.count("split") == 4
    x = np.random.RandomState(1).uniform(-1, 1, (3, 3, 48, 192)).astype(np.float32)
    for a, b in zip(_inference(src, x), _inference(out, x)):
        assert np.abs(a - b).max() < 1e-6
    (ref, ref_instr), (got, got_instr) = (_arm(opt(d, target="arm", out=tmp_path / f"{d.name}.nb"), x[:1])
                                          for d in (src, out))
    assert np.abs(ref - got).max() < 1e-5  # the dw kernel sums in another order than im2col + GEMM
    assert got_instr < 0.75 * ref_instr, (got_instr, ref_instr)


def test_quantized_program_is_rewritten_too(tmp_path):
    """The quant job rewrites each candidate after PTQ: the chain through the
    dequantize ops is followed and the int8 .nb's outputs stay the same."""
    from lite.opt import opt
    from slim.methods.ptq import quant_post_static

    src = need(CLS_MODEL / "inference.pdmodel").parent
    calib = np.random.RandomState(2).uniform(-1, 1, (8, 3, 48, 192)).astype(np.float32)
    q = quant_post_static(src, tmp_path / "q", calib, "abs_max", batch_size=8)
    out, n = split_strided_depthwise(q, tmp_path / "q_dw", height=48)
    assert n == 4
    x = calib[:1]
    (ref, ref_instr), (got, got_instr) = (_arm(opt(d, target="arm", out=tmp_path / f"{d.name}.nb"), x)
                                          for d in (q, out))
    assert np.abs(ref - got).max() < 1e-5
    assert got_instr < 0.9 * ref_instr, (got_instr, ref_instr)


def test_pp_ocrv4_rec_is_rewritten_and_still_converts(tmp_path):
    from lite.nbfile import read_nb
    from lite.opt import opt

    src = need(SHARED / "models" / "ch_PP-OCRv4_rec" / "inference.pdmodel").parent
    out, n = split_strided_depthwise(src, tmp_path / "v4", height=48)
    assert n == 3  # PP-LCNetV3: two 5x5 and one 3x3 depthwise conv at stride (2, 1); (1, 2) is not touched
    x = np.random.RandomState(3).uniform(-1, 1, (1, 3, 48, 160)).astype(np.float32)
    for a, b in zip(_inference(src, x), _inference(out, x)):
        assert np.abs(a - b).max() < 1e-5
    # re-saving keeps swish's `beta`, which Paddle 2.6 calls extra and Lite requires
    ops = [o.type for o in read_nb(opt(out, target="arm", out=tmp_path / "v4.nb")).ops]
    assert ops.count("split") == 3
