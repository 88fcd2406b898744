"""Rewrites of PaddleSlim's frozen int8 program: one-layer models cut from the
fully quantized one (the per-layer scan), and the dequantize fold that
ranks candidates on Paddle Inference."""
import numpy as np
import pytest

from slim.data import cls_data

OP_TYPES = ["conv2d", "depthwise_conv2d", "mul"]


@pytest.fixture(scope="module")
def calib():
    from lite.ocr.cls import preprocess
    from slim.methods.ptq import calibration_arrays

    return calibration_arrays(cls_data.synthetic(16, "calib"), preprocess, 16)


@pytest.fixture(scope="module")
def full_int8(cls_model, calib, tmp_path_factory):
    from slim.methods.ptq import quant_post_static

    return quant_post_static(cls_model, tmp_path_factory.mktemp("full") / "q", calib, "abs_max")


def _probs(model, calib):
    from lite.model_dir import ModelBuffers
    from lite.parity import paddle_inference

    model = model if isinstance(model, ModelBuffers) else str(model)
    return np.concatenate([next(iter(o.values())) for o in paddle_inference(model, [[calib]], True)])


def test_one_layer_cut_is_ptq_with_every_other_layer_skipped(tmp_path, cls_model, calib, full_int8):
    from slim.graph.quant_cut import CannotCut, OneLayerCuts
    from slim.methods.layer_sensitivity import quantizable_weights
    from slim.methods.ptq import quant_post_static

    names = quantizable_weights(cls_model, OP_TYPES)
    fp = _probs(cls_model, calib)
    cuts = OneLayerCuts(full_int8, cls_model, OP_TYPES)
    assert cuts.layers == names  # every conv (the head is a matmul_v2, no op of OP_TYPES)
    for w in (names[0], "conv2d_7.w_0", names[-1]):  # the stem conv, a depthwise conv, the last conv
        alone = quant_post_static(cls_model, tmp_path / f"ptq_{w}", calib, "abs_max",
                                  skip=[n for n in names if n != w])
        a, b = _probs(alone, calib), _probs(cuts.model(w), calib)
        assert np.array_equal(a, b), (w, np.abs(a - b).max())
        assert np.abs(a - fp).max() > 1e-5, w  # the layer is quantized
    with pytest.raises(CannotCut, match="fc_0.w_0"):
        cuts.model("fc_0.w_0")


def test_dequantize_fold_keeps_the_int8_arithmetic(tmp_path, cls_model, calib, full_int8):
    from slim.graph.dequant_fold import DEQUANT, fold_dequantize
    from slim.nets.weights import op_weights

    folded, n = fold_dequantize(full_int8, tmp_path / "pi")
    assert n == 53  # every quantized conv of the v2.0 cls
    from slim.graph.static_program import open_inference_model

    with open_inference_model(folded) as sm:
        types = [op.type for op in sm.block.ops]
    assert DEQUANT not in types and types.count("fake_quantize_range_abs_max") == 53
    q, f, fp = _probs(full_int8, calib), _probs(folded, calib), _probs(cls_model, calib)
    diff = np.abs(q - f).max(axis=1)
    # the same arithmetic in another order: most crops agree to float rounding; where a
    # product lands on an activation's rounding boundary one int8 step flips, as with
    # Paddle Inference's IR optimisation on and off
    assert np.median(diff) < 1e-5, diff
    assert (q.argmax(1) == f.argmax(1)).mean() >= 0.9
    assert np.abs(f - fp).max() > 1e-3  # still the int8 model, not the float one
    assert len(op_weights(folded)) == len(op_weights(full_int8))


def test_mixed_candidate_cut_compiles_to_the_same_arm_model(tmp_path, cls_model, calib, full_int8):
    """Two layers back in float: the cut gives PaddleSlim's program (bit-equal
    on Paddle Inference) and a `.nb` with the same ops and the same ARM outputs."""
    from lite.nbfile import read_nb
    from lite.opt import opt
    from lite.targets import get_target
    from slim.graph.quant_cut import dequantize_layers
    from slim.methods.ptq import quant_post_static

    skip = ["conv2d_1.w_0", "conv2d_7.w_0"]
    ptq = quant_post_static(cls_model, tmp_path / "ptq", calib, "abs_max", skip=skip)
    cut = dequantize_layers(full_int8, cls_model, set(skip).__contains__, OP_TYPES, tmp_path / "cut")
    assert np.array_equal(_probs(ptq, calib), _probs(cut, calib))
    nbs = [opt(d, target="arm", out=tmp_path / f"{d.name}.nb") for d in (ptq, cut)]
    ops = [[(o.type, o.precision) for o in read_nb(nb).ops] for nb in nbs]
    assert ops[0] == ops[1]
    convs = [p for t, p in ops[0] if t in ("conv2d", "depthwise_conv2d")]
    assert len(convs) == 53 and convs.count("int8") == 51  # the two skipped convs stay float
    t = get_target("arm64-emu")
    outs = []
    for nb in nbs:
        with t.load(str(nb)) as s:
            outs.append(next(iter(s.run({"x": calib[:4]}).values())))
    assert np.array_equal(outs[0], outs[1])
