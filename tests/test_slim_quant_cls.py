"""`slim quant cls`: recipes, data splits, and a small end-to-end run gated on the ARM .nb."""
import json
import subprocess
import sys

import numpy as np
import pytest

from lite.errors import LiteError
from lite.paths import REPO_ROOT
from slim.data import cls_data
from slim.recipe import load_quant_recipe


def slim_cli(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "slim.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT)


def test_synthetic_splits_are_fixed_and_disjoint():
    a, b = cls_data.synthetic(40, "eval"), cls_data.synthetic(40, "eval")
    assert all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b))  # same pixels every run
    assert [lab for _, lab in a].count("180") == 20
    calib = cls_data.synthetic(40, "calib")
    shapes_eval = {im.tobytes()[:256] for im, _ in a}
    assert not any(im.tobytes()[:256] in shapes_eval for im, _ in calib)
    assert len(cls_data.synthetic(600, "eval")) == 600


def test_default_recipe_loads():
    r = load_quant_recipe(None)
    assert r.gate.max_drop_points == 0.3 and r.quant.algos == ["abs_max", "avg"] and r.gate.prescreen_points == 0.0


@pytest.mark.parametrize("text,msg", [
    ("quant:\n  algoz: [hist]\n", "unknown key `quant.algoz`"),
    ("gate:\n  max_drop_points: lots\n", "`gate.max_drop_points`: expected float"),
    ("quant:\n  algos: [hist, fancy]\n", "unknown algorithm 'fancy'"),
    ("quant: [1, 2\n", "not valid YAML"),
    ("mixed:\n  rank_by: loss\n", "`mixed.rank_by` is 'loss'; use metric or output"),
    ("quant:\n  strategy: [ptq, magic]\n", "`quant.strategy`: unknown method 'magic'; list some of ptq, "),
    ("quant:\n  strategy: [mixed, ptq]\n", "`quant.strategy`: mixed starts from the best PTQ algorithm; put ptq before it"),
    ("quant:\n  strategy: []\n", "`quant.strategy`: empty"),
    ("qat:\n  anchor: 1.0\n", "`qat.anchor` is 1.0; use a share of the batch, at least 0 and below 1"),
    ("qat:\n  init_scales: mse\n", "`qat.init_scales` is 'mse'; use ptq, or \"\" for QAT's own"),
])
def test_malformed_recipe_is_named(tmp_path, text, msg):
    f = tmp_path / "r.yaml"
    f.write_text(text)
    with pytest.raises(LiteError, match=msg.replace("(", r"\(").replace("[", r"\[")):
        load_quant_recipe(f)
    p = slim_cli("quant", "cls", "--recipe", str(f))
    assert p.returncode == 2 and "Traceback" not in p.stderr and "r.yaml" in p.stderr


def test_empty_data_dir_is_refused(tmp_path, cls_model):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "broken.jpg").write_bytes(b"not a jpeg")
    p = slim_cli("quant", "cls", "--model", str(cls_model), "--data", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "o"))
    assert p.returncode == 2 and "1 failed to decode" in p.stderr
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def real_cls_data(tmp_path_factory):
    """Real data as a user would give it: six ICDAR 2015 training photos with
    quads (--calib: words cut from them) and 20 ICDAR 2015 test word crops
    spread over the set (--data: a rec label file; each crop scored at 0 and 180)."""
    from .conftest import SHARED, need

    train = need(SHARED / "data" / "icdar2015_train")
    test = need(SHARED / "data" / "ic15_words_test" / "rec_gt.txt")
    d = tmp_path_factory.mktemp("real_cls")
    for sub in ("imgs", "gt"):
        (d / "train" / sub).mkdir(parents=True)
    for i in range(11, 17):
        (d / "train" / "imgs" / f"img_{i}.jpg").symlink_to(train / "imgs" / f"img_{i}.jpg")
        (d / "train" / "gt" / f"gt_img_{i}.txt").symlink_to(train / "gt" / f"gt_img_{i}.txt")
    rows = test.read_text(encoding="utf-8").splitlines()
    (d / "gate.txt").write_text("".join(f"{test.parent / rows[k * 100]}\n" for k in range(20)), encoding="utf-8")
    return d / "train", d / "gate.txt"


def test_small_end_to_end(tmp_path, cls_model, real_cls_data):
    train, gate = real_cls_data
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        "quant:\n  algos: [min_max, hist]\n  calib_size: 32\n  batch_size: 16\n"
        "gate:\n  max_drop_points: 2.5\n")
    out = tmp_path / "out"
    p = slim_cli("quant", "cls", "--model", str(cls_model), "--recipe", str(recipe), "--calib", str(train),
                 "--data", str(gate), "--out", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "notice:" not in p.stderr  # real data given: nothing synthetic
    r = json.loads((out / "report.json").read_text())
    assert r["model"] == "ch_ppocr_mobile_v2.0_cls" and r["task"] == "cls" and r["metric"] == "accuracy"
    assert r["eval_set"]["parts"] == {"gate-0-180": 40} and r["eval_set"]["gate_size"] == 40
    assert r["data"] == {"calibration": str(train), "calibration_real": True}
    search = {c["algo"]: c for c in r["search"]}
    # min_max calibrates nothing here: its .nb has no int8 kernel, so the .nb check rejects it
    assert search["min_max"]["status"] == "no int8 kernels in the .nb"
    assert r["slim"]["algo"] == "hist"
    b, s = r["baseline"], r["slim"]
    assert b["metric_value"] - s["metric_value"] <= 0.025 + 1e-9
    assert abs(r["gate"][-1]["drop_points"] - 100 * (b["metric_value"] - s["metric_value"])) < 1e-9
    # the drop's interval: the same 40 crops redrawn for both models; one crop moves accuracy 2.5 points
    d, drop = r["drop_interval"], 100 * (b["metric_value"] - s["metric_value"])
    assert d["low"] <= drop <= d["high"] and d["method"] == "paired bootstrap over the 40 gate crops, 2000 rounds"
    assert d["std"] == 0 or d["high"] - d["low"] >= 2.5 - 1e-9
    # the float model is scored through its x86 .nb; candidates are ranked on training words held out of
    # calibration (each at 0 and 180), never on the gate crops
    assert b["metric_value"] == pytest.approx(b["metric_value_x86"])
    sel = r["selection_set"]
    assert not sel["is_gate_set"] and sel["name"] == "train-words-select" and sel["size"] % 2 == 0 and sel["size"] >= 8
    assert 0.6 < b["metric_value"] < 1.0  # real crops: the float model reads most directions right
    assert s["nb_bytes_arm"] == (out / "ch_ppocr_mobile_v2.0_cls_int8_arm.nb").stat().st_size
    assert s["nb_bytes_arm"] < 0.7 * b["nb_bytes_arm"]
    assert s["instructions_per_run"] < b["instructions_per_run"]  # int8 pays on the A76 path
    assert r["cpu"] == "cortex-a76"
    md = (out / "report.md").read_text()
    assert md.startswith("# slim quant: ch_ppocr_mobile_v2.0_cls") and "synthetic" not in md
    assert f"(95 %: {d['low']:+.2f} to {d['high']:+.2f}, redrawing the gate crops)" in md


def test_fallbacks_when_ptq_misses_the_budget(tmp_path, cls_model, lite_home, monkeypatch):
    """An unreachable budget walks the whole chain: PTQ, mixed precision from a
    per-layer sensitivity scan (cached), QAT with PACT; then the closest
    candidate is measured on its .nb and reported as a FAIL (exit 1)."""
    import cv2

    crops = tmp_path / "crops"
    crops.mkdir()
    for i, (img, _) in enumerate(cls_data.synthetic(40, "eval")):
        if i % 2 == 0:  # upright ones; --data adds each at 180 degrees
            cv2.imwrite(str(crops / f"{i:03d}.png"), img)
    recipe = tmp_path / "strict.yaml"
    recipe.write_text(
        "quant:\n  algos: [abs_max]\n  calib_size: 16\n"
        "mixed:\n  max_float_layers: 2\n  sensitivity_eval: 40\n"
        "qat:\n  steps: 4\n  pool_size: 32\n"
        "gate:\n  max_drop_points: -50.0\n")
    out = tmp_path / "out"
    p = slim_cli("quant", "cls", "--model", str(cls_model), "--recipe", str(recipe), "--data", str(crops),
                 "--out", str(out))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no int8 .nb kept the accuracy drop within -50.0 points (the closest, ")
    # every candidate, QAT's too, is pre-screened on Paddle Inference: so far over budget, none
    # reaches the ARM gate until the closest one is measured there for the report
    for step in ("abs_max: accuracy", "mixed, 1 float layer(s)", "mixed, 2 float layer(s)",
                 "QAT: 4 steps on 32 crops, distilled", "qat-pact: accuracy"):
        assert f"  {step}" in p.stderr, step
    assert "gate abs_max" not in p.stderr or "gate qat-pact" not in p.stderr
    assert p.stderr.count("    not gated on ARM:") == 2  # abs_max and QAT; mixed candidates are screened by budget
    assert p.stderr.count("  gate ") == 1  # only the closest
    r = json.loads((out / "report.json").read_text())
    assert r["passed"] is False and r["gate"][-1]["algo"] == r["slim"]["algo"] and not r["gate"][-1]["passed"]
    assert r["slim"]["algo"] in last and (out / "report.md").read_text().count("**FAIL") == 1
    # the session's cache also holds other tests' scans (rec, 11 depthwise convs): the cls one covers its 53 convs
    caches = [c for c in (lite_home / "jobs").glob("*/sensitivity.json") if len(json.loads(c.read_text())) == 53]
    assert len(caches) == 1
    sens = json.loads(caches[0].read_text())
    # the 53 convs: the head's fc is a matmul_v2, which the default op_types leave float
    assert len(sens) == 53 and "conv2d_0.w_0" in sens and "fc_0.w_0" not in sens
    # every mixed candidate carries the scan; the report keeps its leaders, float layers first
    mixed = [c for c in r["search"] if c.get("method") == "mixed"]
    assert len(mixed) == 2 and not any(c.get("sensitivity") for c in r["search"])  # not in the search list
    if r["slim"]["float_layers"]:
        top = r["sensitivity_top"]
        assert len(top) == len(r["slim"]["float_layers"]) + 4 and all(top[w] == sens[w] for w in top)
        assert min(top.values()) >= max(v for w, v in sens.items() if w not in top)
        assert set(r["slim"]["float_layers"]) <= set(top)
    else:
        assert "sensitivity_top" not in r

    # a rerun resumes from the cache: no layer is quantized again
    from slim.methods import layer_sensitivity
    from slim.methods.ptq import calibration_arrays
    from lite.ocr.cls import preprocess

    def boom(*a, **k):
        raise AssertionError("recomputed a cached layer")

    monkeypatch.setattr(layer_sensitivity, "quant_post_static", boom)
    monkeypatch.setattr(layer_sensitivity, "phase_pool", boom)  # the scan's workers
    r = load_quant_recipe(recipe)
    calib = calibration_arrays(cls_data.synthetic(16, "calib"), preprocess, 16)
    assert layer_sensitivity.sensitivity(cls_model, tmp_path, calib, "abs_max", r) == sens


def test_output_ranking_scores_each_layer_by_its_output_change(tmp_path, cls_model, lite_home):
    from lite.ocr.cls import preprocess
    from slim.methods import layer_sensitivity
    from slim.methods.ptq import calibration_arrays

    f = tmp_path / "out.yaml"
    f.write_text("quant:\n  op_types: [depthwise_conv2d]\nmixed:\n  rank_by: output\n")
    r = load_quant_recipe(f)
    calib = calibration_arrays(cls_data.synthetic(16, "calib"), preprocess, 16)
    sens = layer_sensitivity.sensitivity(cls_model, tmp_path, calib, "abs_max", r, workers=1)
    assert len(sens) == 11  # the v2.0 cls's depthwise convs
    # mean |softmax change| over 16 crops: every layer moves the output, each by its own amount
    assert all(0 < v < 0.2 for v in sens.values()), sens
    assert len({round(v, 9) for v in sens.values()}) == 11
    # its own cache entry, beside (not mixed with) a metric-ranked scan of the same layers
    assert layer_sensitivity.sensitivity(cls_model, tmp_path, calib, "abs_max", r) == sens
    # the scan's worker processes give what one process gives
    for c in (lite_home / "jobs").glob("*/sensitivity.json"):
        if set(json.loads(c.read_text())) == set(sens):
            c.unlink()
    assert layer_sensitivity.sensitivity(cls_model, tmp_path, calib, "abs_max", r, workers=2) == sens


def test_float_layers_are_planned_within_the_size_cap():
    from slim.methods.mixed import plan_float_layers

    numel = {"a": 1000, "big": 795000, "b": 2000, "c": 500, "d": 100}
    ranked = ["a", "big", "b", "c", "d"]
    assert plan_float_layers(ranked, numel, float("inf"), 3) == (["a", "big", "b"], [])
    # 10 KB of room: "big" (2.4 MB more as float) is passed over, then "c" no longer fits
    assert plan_float_layers(ranked, numel, 10_000, 4) == (["a", "b", "d"], ["big", "c"])
    assert plan_float_layers(ranked, numel, -1, 4) == ([], ranked)


@pytest.mark.parametrize("scorer", ["x86 .nb", "Paddle Inference"])
def test_pooled_and_subset_scores_are_read_off_the_sets(scorer, cls_model, cls_x86_nb):
    """The float baseline (x86 .nb) and the chosen model's report (Paddle
    Inference) score each gate set once; the pooled set and the ARM subset
    take their per-item scores from those, as scoring them gives."""
    from lite.readers import ListReader, evenly
    from slim.families import get_family
    from slim.jobs.gate import read_off_sets

    fam, recipe = get_family("cls"), load_quant_recipe(None)
    evaluate = (lambda r: fam.evaluate_nb(str(cls_x86_nb), r, recipe, "x86", r.name)) if scorer == "x86 .nb" \
        else (lambda r: fam.evaluate_inference(str(cls_model), r, recipe))
    crops = list(cls_data.synthetic(44, "eval"))
    sets = [ListReader("a", crops[:20]), ListReader("b", crops[20:])]
    full = {s.name: evaluate(s) for s in sets}
    rank = fam.rank_set(sets)
    for reader in (rank, evenly(rank, 15, "subset")):
        read_off, scored = read_off_sets(fam, reader, sets, full), evaluate(reader)
        assert read_off["per_item"] == scored["per_item"] and read_off["value"] == pytest.approx(scored["value"], abs=1e-12)
    assert 0 < full["a"]["value"] < 1 or 0 < full["b"]["value"] < 1  # items that differ, so the order is checked
    assert read_off_sets(fam, sets[1], sets, full) is full["b"]  # a whole set: its own result
    assert read_off_sets(fam, ListReader("other", cls_data.synthetic(4, "calib")), sets, full) is None


def test_the_gate_scores_a_nb_once(tmp_path, cls_model, cls_x86_nb, cls_arm_nb):
    """A `.nb` the gate scored before (same bytes, target and items) is read
    from its cache, so an interrupted job's rerun or a second bench does not
    emulate it again; a different `.nb` or other items are scored afresh."""
    from lite.opt import opt
    from lite.readers import ListReader
    from slim.families import get_family
    from slim.jobs.gate import Gate

    fam, recipe = get_family("cls"), load_quant_recipe(None)
    crops = ListReader("g", list(cls_data.synthetic(12, "eval")))
    first = Gate(recipe, fam, crops, cache=tmp_path / "gate").evaluate(cls_x86_nb, "float", "x86")
    again = tmp_path / "again.nb"
    opt(cls_model, target="x86", out=again)  # the same model converted again: the same bytes
    calls = []
    real = fam.evaluate_nb
    fam.evaluate_nb = lambda *a, **k: calls.append(a) or real(*a, **k)
    try:
        second = Gate(recipe, fam, crops, cache=tmp_path / "gate").evaluate(again, "float", "x86")
        assert calls == [] and second == json.loads(json.dumps(first)) and len(second["per_item"]) == 12
        other = ListReader("g", list(cls_data.synthetic(12, "eval"))[:6])
        Gate(recipe, fam, other, cache=tmp_path / "gate-other").evaluate(again, "float", "x86")
        arm = Gate(recipe, fam, crops, cache=tmp_path / "gate").evaluate(cls_arm_nb, "float", "arm64-emu")
        assert len(calls) == 2 and arm["per_item"] == first["per_item"]  # float .nb files agree
    finally:
        fam.evaluate_nb = real


def test_a_rerun_reads_the_gate_from_the_cache_and_says_so(tmp_path, cls_model, real_cls_data):
    """The same job run twice on one cache: the second gates the same `.nb`
    (same bytes) from the cache, with the same figures, and both reports say
    which way each score came."""
    train, all_gate = real_cls_data
    gate = tmp_path / "gate.txt"  # items no other test gates on: the session's cache has not seen them
    gate.write_text("".join(all_gate.read_text(encoding="utf-8").splitlines(keepends=True)[:15]), encoding="utf-8")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text("quant:\n  algos: [hist]\n  calib_size: 32\n  batch_size: 16\ngate:\n  max_drop_points: 4\n")
    reports = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        p = slim_cli("quant", "cls", "--model", str(cls_model), "--recipe", str(recipe), "--calib", str(train),
                     "--data", str(gate), "--out", str(out))
        assert p.returncode == 0, p.stderr[-3000:]
        reports.append((json.loads((out / "report.json").read_text()), (out / "report.md").read_text(), p.stderr))
    (r1, md1, err1), (r2, md2, err2) = reports
    assert len(r1["gate"]) == len(r2["gate"]) >= 1  # each gated candidate: measured once, then read
    assert not any(g["scored_before"] for g in r1["gate"]) and all(g["scored_before"] for g in r2["gate"])
    assert r2["slim"]["metric_value"] == r1["slim"]["metric_value"] and r2["drop_interval"] == r1["drop_interval"]
    assert "scored before" in err2 and "scored before" not in err1
    assert "read from the job cache" in md2 and "read from the job cache" not in md1
