"""GPTQ rounding for Paddle Lite's weight-only int8 `.nb` (slim/methods/gptq.py)."""
from __future__ import annotations

import numpy as np
import pytest

from lite.errors import LiteError

from .conftest import SHARED, need

V4_DET = SHARED / "models" / "ch_PP-OCRv4_det"


def _codes(q: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from slim.methods.gptq import mse_clip

    s = (mse_clip(w) / 127)[:, None]
    return q / s, s


def test_gptq_lowers_the_layer_output_error_on_the_same_grids():
    from slim.methods.gptq import round_rows

    rs = np.random.RandomState(0)
    # inputs of low rank plus noise, as a layer sees them: rounding errors can be compensated
    X = rs.randn(64, 16) @ rs.randn(16, 4000) + 0.1 * rs.randn(64, 4000)
    H = X @ X.T
    W = rs.randn(48, 64) * np.exp(rs.randn(48, 1))
    W[3, 5] = 4 * np.abs(W[3]).max()  # an outlier: MSE clips the row to it
    near, lost_n = round_rows(W, None)
    gptq, lost_g = round_rows(W, H)
    err = lambda Q: np.trace((Q - W) @ H @ (Q - W).T)  # noqa: E731
    assert err(gptq) < 0.25 * err(near)  # measured: 0.13
    for q in (near, gptq):
        k, _ = _codes(q, W)
        assert np.allclose(k, np.round(k), atol=1e-6) and np.abs(k).max() <= 127 + 1e-6
        # every row keeps a code of +-127, so opt's abs-max scale is the one used here
        assert np.allclose(np.abs(np.round(k)).max(1), 127)
    assert lost_n == 0 and 0 <= lost_g < len(W)


def test_weight_only_nb_holds_the_rounded_weights_exactly(tmp_path):
    """opt re-derives each row's scale and rounds again: on GPTQ's grids that
    changes nothing, so the weight-only .nb computes the rounded model."""
    from lite.opt import opt
    from lite.parity import parity
    from slim.methods.gptq import gptq_round_model
    from lite.nbfile import read_nb

    model = need(V4_DET / "inference.pdmodel").parent
    rs = np.random.RandomState(0)
    x = rs.uniform(-2, 2, size=(9, 3, 64, 64)).astype("float32")
    rounded, stats = gptq_round_model(model, tmp_path / "gptq", x[:8])
    assert stats["layers"] == 48 and stats["method"] == "gptq"
    probe = {"x": x[8:]}
    nb = opt(rounded, target="x86", out=tmp_path / "gptq_w8.nb", quant_weights="int8")
    plain = opt(model, target="x86", out=tmp_path / "plain_w8.nb", quant_weights="int8")
    assert read_nb(nb).weight_only_ops == stats["layers"]
    assert read_nb(opt(model, target="x86", out=tmp_path / "f.nb")).weight_only_ops == 0
    own = parity(str(nb), str(rounded), inputs=probe)["max_abs_diff"]
    vs_float = parity(str(nb), str(model), inputs=probe)["max_abs_diff"]
    plain_vs_float = parity(str(plain), str(model), inputs=probe)["max_abs_diff"]
    assert vs_float > 0 and own < 1e-3 * vs_float  # the .nb is the rounded model, not the float one
    assert vs_float < plain_vs_float  # and closer to the float model than opt's own rounding


def test_weight_only_nb_runs_on_arm(tmp_path):
    from lite.opt import opt
    from lite.parity import parity
    from slim.methods.gptq import gptq_round_model

    model = need(V4_DET / "inference.pdmodel").parent
    x = np.random.RandomState(1).uniform(-2, 2, size=(5, 3, 64, 64)).astype("float32")
    rounded, _ = gptq_round_model(model, tmp_path / "gptq", x[:4], method="nearest")
    nb = opt(rounded, target="arm", out=tmp_path / "w8_arm.nb", quant_weights="int8")
    assert parity(str(nb), str(rounded), target="arm64-emu", inputs={"x": x[4:]})["max_abs_diff"] < 1e-4


def test_weight_only_rounding_is_checked(tmp_path):
    from slim.recipe import load_quant_recipe

    bad = tmp_path / "r.yaml"
    bad.write_text("task: rec\nweight_only:\n  enabled: true\n  rounding: adaround\n")
    with pytest.raises(LiteError, match="weight_only.rounding.*use gptq or nearest"):
        load_quant_recipe(bad)


def test_weight_only_job_on_cls(tmp_path, cls_model):
    """`quant.method: weight_only`: no int8-arithmetic search; the GPTQ-rounded
    weight-only .nb is gated on the ARM .nb like any candidate."""
    import json

    from .test_slim_quant_cls import slim_cli

    recipe = tmp_path / "wo.yaml"
    recipe.write_text("quant:\n  method: weight_only\n  calib_size: 16\n"
                      "weight_only: {calib_size: 16}\ngate:\n  max_drop_points: 2.0\n")
    crops = need(SHARED / "data" / "rec_words_en" / "imgs")  # 10 upright crops, each also turned 180
    out = tmp_path / "out"
    p = slim_cli("quant", "cls", "--model", str(cls_model), "--recipe", str(recipe), "--data", str(crops),
                 "--out", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads((out / "report.json").read_text())
    s, b = r["slim"], r["baseline"]
    assert [c["method"] for c in r["search"]] == ["weight_only"] and s["method"] == "weight_only"
    assert r["eval_set"]["size"] == 20 and r["selection_set"]["is_gate_set"]  # no calibration-side labels given
    # opt's ARM conv + conv fusion merges one rounded layer into its neighbour (43 -> 42 int8 weights)
    assert s["int8_ops"] == 0 and s["rounding"]["layers"] - 1 <= s["weight_only_ops"] <= s["rounding"]["layers"]
    assert r["gate"][-1]["passed"] and b["metric_value"] - s["metric_value"] <= 0.02 + 1e-9
    assert abs(s["metric_value"] - s["metric_value_inference"]) <= 0.02  # the .nb agrees with Paddle Inference
    # conv and fc weights shrink 4x; depthwise weights and the program do not
    assert r["ratios"]["nb_bytes"] < 0.85
    assert "int8 weights, float arithmetic" in (out / "report.md").read_text()
