"""`slim quant det_mobile`: the det recipes, and a tiny prune-then-quantize
run end to end on the real model, gated on the int8 ARM `.nb`."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from lite.errors import LiteError
from slim.recipe import RECIPES_DIR, load_prune_recipe, load_quant_recipe

from .conftest import need
from .test_prune import DET_ONNX, TINY, icdar_subset
from .test_slim_quant_cls import slim_cli


def test_det_recipes_load():
    q = load_quant_recipe(RECIPES_DIR / "det_mobile_quant.yaml")
    assert q.task == "det" and q.prune == "" and q.gate.max_drop_points == 1.0 and q.gate.bench_shape == [1, 3, 640, 640]
    pq = load_quant_recipe(RECIPES_DIR / "det_mobile_prune_quant.yaml")
    assert pq.prune == "det_mobile_prune_deep.yaml" and pq.quant == q.quant
    # label-free, the int8 det is gated on no drop below the float model (the target), not a point
    assert pq.gate.max_drop_points == 0.0 and replace(pq.gate, max_drop_points=1.0) == q.gate
    # the system's det: the label-free prune recipe, pruned deeper and fine-tuned longer, nothing else
    base, deep = (load_prune_recipe(RECIPES_DIR / n) for n in ("det_mobile_prune.yaml", pq.prune))
    assert deep.prune.flops_keep < base.prune.flops_keep and deep.finetune.steps == 2 * base.finetune.steps
    assert replace(deep, prune=base.prune, finetune=base.finetune) == base
    assert replace(deep.finetune, steps=base.finetune.steps) == base.finetune


def test_recipe_for_another_task_is_refused(tmp_path):
    p = slim_cli("quant", "det_mobile", "--recipe", str(RECIPES_DIR / "cls_quant.yaml"))
    assert p.returncode == 2 and "a cls recipe; `slim quant det_mobile` needs task: det" in p.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: cls\nprune: det_mobile_prune.yaml\n")
    with pytest.raises(LiteError, match="`prune` is for det recipes"):
        load_quant_recipe(bad)
    missing = tmp_path / "m.yaml"
    missing.write_text("task: det\nprune: nowhere.yaml\n")
    p = slim_cli("quant", "det_mobile", "--recipe", str(missing), "--model", str(DET_ONNX), "--out",
                 str(tmp_path / "o"))
    assert p.returncode == 2 and "nowhere.yaml: no such recipe" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "o").exists()


def _tiny_prune_quant(tmp_path, quant_yaml: str):
    """`slim quant det_mobile` after the tiny prune recipe of test_prune (cached
    when that ran), on 3 real photos: (the process, the output folder, the photos)."""
    need(DET_ONNX)
    data = icdar_subset(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY)
    recipe = tmp_path / "tiny_quant.yaml"
    recipe.write_text("task: det\nprune: tiny.yaml\n" + quant_yaml)
    out = tmp_path / "out"
    p = slim_cli("quant", "det_mobile", "--model", str(DET_ONNX), "--recipe", str(recipe), "--data", str(data),
                 "--images", str(data), "--out", str(out))
    return p, out, data


def test_tiny_prune_then_quantize_end_to_end(tmp_path):
    """Prune (the tiny recipe of test_prune, cached when that ran), then PTQ;
    the int8 `.nb` is scored on the emulated ARM target against the original
    float `.nb`, and its instruction count comes from the same run."""
    p, out, data = _tiny_prune_quant(tmp_path, "quant: {algos: [abs_max, avg], calib_size: 8, batch_size: 8}\n"
                                     "mixed: {enabled: false}\nqat: {enabled: false}\n"
                                     "gate: {max_drop_points: 100.0, limit_side_len: 320, "
                                     "bench_shape: [1, 3, 128, 128]}\n")
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads((out / "report.json").read_text())
    assert r["task"] == "det" and r["metric"] == "hmean" and r["eval_set"]["parts"] == {"icdar3": 3}
    b, s = r["baseline"], r["slim"]
    assert s["algo"] in ("abs_max", "avg") and s["int8_ops"] > 20
    # pruned and int8: well under a third of the float .nb, and cheaper on the A76 path
    assert s["nb_bytes_arm"] == (out / "ch_ppocr_mobile_v2.0_det_int8_arm.nb").stat().st_size
    assert s["nb_bytes_arm"] < 0.3 * b["nb_bytes_arm"]
    assert s["instructions_per_run"] < b["instructions_per_run"]
    assert r["bench_shape"] == [1, 3, 128, 128] and r["latency_ms"]["median"] > 0
    assert r["pruning"]["recipe"] == "tiny.yaml" and r["pruning"]["flops"]["pruned"] < r["pruning"]["flops"]["float"]
    # the float model is scored through its x86 .nb; the labelled photos given also rank the candidates
    assert b["metric_value"] == pytest.approx(b["metric_value_x86"])
    assert r["data"] == {"calibration": str(data), "calibration_real": True}
    assert r["pruning"]["photos"]["real"] and r["pruning"]["photos"]["source"] == "icdar3"
    assert r["gate"][-1]["passed"] and r["gate"][-1]["accuracy_nb_arm"] == s["metric_value"]
    # the drop with its noise: the 3 photos redrawn, the same draw for both .nb files
    d, drop = r["drop_interval"], 100 * (b["metric_value"] - s["metric_value"])
    assert d["low"] <= drop <= d["high"] and d["method"] == "paired bootstrap over the 3 gate images, 2000 rounds"
    md = (out / "report.md").read_text()
    assert md.startswith("# slim quant: ch_ppocr_mobile_v2.0_det") and "Pruned first with `tiny.yaml`" in md


def test_pruned_source_past_the_budget_skips_the_fallbacks(tmp_path):
    """When the pruned model alone already misses the budget against the
    float one, mixed precision and QAT (bounded by the model they quantize)
    are not run: PTQ's closest candidate is measured on ARM and reported as a
    FAIL, with one line saying why."""
    p, out, _ = _tiny_prune_quant(tmp_path, "quant: {algos: [abs_max], calib_size: 8, batch_size: 8}\n"
                                  "mixed: {enabled: true, max_float_layers: 1, sensitivity_eval: 3}\n"
                                  "qat: {enabled: true, steps: 2, pool_size: 8}\n"
                                  "gate: {max_drop_points: -100.0, limit_side_len: 320, "
                                  "bench_shape: [1, 3, 128, 128]}\n")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-3000:]
    assert "points below the float one on" in p.stderr and "(budget -100.0): no quantization can keep the budget, " \
        "so only ptq runs and its closest candidate is reported" in p.stderr
    assert "mixed" not in p.stderr and "QAT" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].endswith(
        "the pruned float model alone is past the budget: prune less (prune.flops_keep in the prune recipe) or "
        "fine-tune it with labels (finetune.label_weight), or raise gate.max_drop_points")
    r = json.loads((out / "report.json").read_text())
    assert r["passed"] is False and r["slim"]["algo"] == "abs_max" and r["pruning"]["past_budget"] is True
    assert [c["method"] for c in r["search"]] == ["ptq"]
    assert r["gate"][-1]["accuracy_nb_arm"] == r["slim"]["metric_value"]
