"""The dygraph cls network: real weights from the inference model, the ONNX
export and a checkpoint reproduce Paddle Inference; mismatches are named."""
import hashlib

import numpy as np
import paddle
import pytest

from lite.errors import LiteError
from lite.parity import paddle_inference
from slim.families.model_source import inference_dir, load_network
from slim.nets.cls_mobilenetv3 import TextClassifier
from slim.nets.weights import load_weights

from .conftest import SHARED, need


@pytest.fixture(scope="module")
def x():
    return np.random.RandomState(0).uniform(-1, 1, (4, 3, 48, 192)).astype("float32")


@pytest.fixture(scope="module")
def reference(cls_model, x):
    return {ir: next(iter(paddle_inference(cls_model, [[x]], ir_optim=ir)[0].values())) for ir in (True, False)}


@pytest.mark.parametrize("source", ["inference", "onnx"])
def test_dygraph_cls_reproduces_the_inference_model(cls_model, x, reference, source):
    src = cls_model if source == "inference" else need(cls_model / "model.onnx")
    net = load_network("cls", src)
    y = net(paddle.to_tensor(x)).numpy()
    assert y.shape == (4, 2)
    for ir, ref in reference.items():
        assert np.abs(y - ref).max() <= 1e-5, f"IR optim {ir}"


def test_onnx_export_becomes_an_equal_inference_model(cls_model, x, reference, tmp_path):
    onnx = need(cls_model / "model.onnx")
    before = hashlib.sha256(onnx.read_bytes()).hexdigest()
    name, d = inference_dir(str(onnx), "cls", tmp_path)
    assert name == "ch_ppocr_mobile_v2.0_cls"
    for ir, ref in reference.items():
        got = next(iter(paddle_inference(d, [[x]], ir_optim=ir)[0].values()))
        assert np.abs(got - ref).max() <= 1e-5
    assert hashlib.sha256(onnx.read_bytes()).hexdigest() == before


def test_checkpoint_roundtrip_and_mismatches(cls_model, x, tmp_path):
    net = load_network("cls", cls_model)
    ckpt = tmp_path / "best_accuracy.pdparams"
    state = net.state_dict()
    assert "backbone.conv1.conv.weight" in state and "head.fc.bias" in state  # PaddleOCR's keys
    paddle.save(state, str(ckpt))
    again = TextClassifier()
    assert load_weights(again, ckpt) == "by key"
    again.eval()
    assert np.array_equal(again(paddle.to_tensor(x)).numpy(), net(paddle.to_tensor(x)).numpy())

    bad = dict(state)
    bad["head.fc.weight"] = paddle.zeros([200, 3])
    paddle.save(bad, str(tmp_path / "wrong_shape.pdparams"))
    with pytest.raises(LiteError, match=r"parameter `head.fc.weight` has shape \[200, 3\].*needs \[200, 2\]"):
        load_weights(TextClassifier(), tmp_path / "wrong_shape.pdparams")
    del bad["head.fc.weight"]
    paddle.save(bad, str(tmp_path / "missing.pdparams"))
    with pytest.raises(LiteError, match="no parameter `head.fc.weight`"):
        load_weights(TextClassifier(), tmp_path / "missing.pdparams")


def test_other_models_weights_are_refused_with_the_first_misfit():
    rec = need(SHARED / "models" / "en_number_mobile_v2.0_rec" / "model.onnx")
    # a MobileNetV3 small x0.5 CRNN: its stem and first block fit (x0.5 and x0.35 agree there),
    # the second block's expand conv does not, and that is named
    with pytest.raises(LiteError, match=r"model.onnx: parameter 24 `conv3_expand_weights` has shape \[40, 8, 1, 1\] "
                                        r"where .*`backbone.blocks.1.expand_conv.conv.weight` needs \[24, 8, 1, 1\]; "
                                        r"it is a different"):
        load_weights(TextClassifier(), rec)
