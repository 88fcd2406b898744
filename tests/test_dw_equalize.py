"""Depthwise-input equalization (slim/graph/dw_equalize.py): exact in float on
Paddle Inference and on the ARM `.nb`, every input channel spans the same
range afterwards, and int8 per-tensor quantization of those inputs gets
far less noise."""
from __future__ import annotations

import numpy as np

from .conftest import need
from .test_affine_fold import V4_REC
from .test_dw_stride import _arm, _inference


def _dw_inputs(d, x):
    """{input name: tensor} of every depthwise conv, on input x."""
    from slim.graph.dw_equalize import _depthwise_inputs
    from slim.graph.static_program import open_inference_model

    with open_inference_model(d) as sm:
        names = [n for _, n in _depthwise_inputs(sm)]
        outs = sm.exe.run(sm.prog, feed={sm.feeds[0]: x}, fetch_list=names, scope=sm.scope)
    return dict(zip(names, outs))


def _sqnr_db(t: np.ndarray) -> float:
    s = np.abs(t).max() / 127
    q = np.clip(np.round(t / s), -127, 127) * s
    return float(10 * np.log10((t ** 2).mean() / ((t - q) ** 2).mean()))


def test_equalized_depthwise_inputs_are_exact_and_quantize_better(tmp_path):
    from lite.opt import opt
    from slim.graph.dw_equalize import FLOOR, equalize_model
    from slim.graph.kernel_rewrites import fold_float_model

    folded, _ = fold_float_model(need(V4_REC).parent, tmp_path / "folded")
    rng = np.random.RandomState(3)
    calib = rng.uniform(-1, 1, (8, 3, 48, 96)).astype(np.float32)
    out, n = equalize_model(folded, tmp_path / "eq", calib)
    assert n == 14  # every depthwise conv of PP-LCNetV3
    x = rng.uniform(-1, 1, (2, 3, 48, 96)).astype(np.float32)
    for a, b in zip(_inference(folded, x), _inference(out, x)):
        assert np.abs(a - b).max() < 1e-5  # softmax outputs, IR optimisation on and off
        assert (a.argmax(-1) == b.argmax(-1)).all()
    # on the calibration crops every channel now peaks at the tensor's peak (or was raised 1/FLOOR)
    before, after = _dw_inputs(folded, calib), _dw_inputs(out, calib)
    gains = []
    for (name, t0), t1 in zip(before.items(), after.values()):
        peak = np.abs(t1).max(axis=(0, 2, 3))
        raised = np.abs(t0).max(axis=(0, 2, 3)) / np.abs(t0).max() >= FLOOR
        assert np.allclose(peak[raised], peak.max(), rtol=1e-4), name
        gains.append(_sqnr_db(t1) - _sqnr_db(t0))
    assert min(gains) > 5 and np.mean(gains) > 10, gains  # measured: 8.8 to 21.8 dB, mean 16.1
    (ref, ref_instr), (got, got_instr) = (_arm(opt(d, target="arm", out=tmp_path / f"{d.name}.nb"), x[:1])
                                          for d in (folded, out))
    assert np.abs(ref - got).max() < 1e-5
    assert got_instr < 1.1 * ref_instr, (got_instr, ref_instr)  # 14 per-channel muls on the fast path


def test_models_without_depthwise_convs_are_left_alone(tmp_path):
    import paddle

    from slim.graph.dw_equalize import equalize_model
    from slim.graph.static_program import static_mode

    with static_mode():
        prog, startup = paddle.static.Program(), paddle.static.Program()
        with paddle.static.program_guard(prog, startup):
            x = paddle.static.data("x", [None, 3, 16, 16], "float32")
            y = paddle.nn.functional.relu(paddle.static.nn.conv2d(x, 4, 3, padding=1))
        exe = paddle.static.Executor(paddle.CPUPlace())
        exe.run(startup)
        paddle.static.save_inference_model(str(tmp_path / "plain" / "inference"), [x], [y], exe, program=prog)
    calib = np.ones((2, 3, 16, 16), np.float32)
    assert equalize_model(tmp_path / "plain", tmp_path / "eq", calib) == (tmp_path / "plain", 0)
    assert not (tmp_path / "eq").exists()
