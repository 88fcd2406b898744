"""The whole OCR system: crops and reading order, the end-to-end metric,
bundles (checksums, dictionary fit, roles), `lite ocr` on the ARM `.nb`
against the same pipeline on Paddle Inference, the direction classifier
turning upside-down text, bad input, and a small `slim e2e` report."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from lite.errors import LiteError

from .conftest import SHARED, lite_cli, need

DET_ONNX = SHARED / "models" / "ch_ppocr_mobile_v2.0_det" / "model.onnx"
EN_ONNX = SHARED / "models" / "en_number_mobile_v2.0_rec" / "model.onnx"


@pytest.fixture(scope="module")
def models(tmp_path_factory, cls_model):
    """Float inference models and ARM .nb files of the v2.0 mobile system."""
    from lite.opt import opt
    from slim.families.model_source import export_inference, load_det, load_rec

    root = tmp_path_factory.mktemp("system")
    _, det = load_det(str(need(DET_ONNX)))
    _, rec = load_rec(str(need(EN_ONNX)))
    dirs = {"det": export_inference(det, root / "det", [None, 3, None, None]), "cls": cls_model,
            "rec": export_inference(rec, root / "rec", [None, 3, 32, None])}
    nbs = {s: opt(d, target="arm", out=root / f"{s}.nb") for s, d in dirs.items()}
    return dirs, nbs


@pytest.fixture(scope="module")
def bundle(models, tmp_path_factory):
    from lite.bundle import ModelSpec, write_bundle

    dirs, nbs = models
    specs = {s: ModelSpec(nb=nbs[s], name=f"{s}_float", inference=dirs[s]) for s in nbs}
    return write_bundle(tmp_path_factory.mktemp("b") / "bundle", specs, "en_dict.txt")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Two synthetic scenes as a PaddleOCR det label file."""
    from slim.data.det_data import synthetic

    d = tmp_path_factory.mktemp("scenes")
    lines = []
    for i, (img, gt) in enumerate(synthetic(2, "eval", (320, 320))):
        cv2.imwrite(str(d / f"s{i}.png"), img)
        lines.append(f"s{i}.png\t{json.dumps(gt)}")
    (d / "label.txt").write_text("\n".join(lines) + "\n")
    return d


def test_reading_order_and_perspective_crop():
    from lite.ocr.crop import rotate_crop, sorted_boxes

    q = lambda x, y: np.array([[x, y], [x + 50, y], [x + 50, y + 20], [x, y + 20]], np.float32)  # noqa: E731
    order = sorted_boxes([q(100, 55), q(10, 50), q(10, 100), q(200, 48)])
    assert [tuple(b[0]) for b in order] == [(10, 50), (100, 55), (200, 48), (10, 100)]  # same line: left to right
    img = np.zeros((200, 300, 3), np.uint8)
    img[60:80, 40:160] = 255
    quad = np.array([[40, 60], [160, 60], [160, 80], [40, 80]], np.float32)
    crop = rotate_crop(img, quad)
    assert crop.shape == (20, 120, 3) and crop.mean() > 250
    tall = rotate_crop(img, np.array([[40, 10], [60, 10], [60, 110], [40, 110]], np.float32))
    assert tall.shape[:2] == (20, 100)  # vertical text is turned to lie flat


def test_end_to_end_metric_counts():
    from lite.ocr.e2e_metric import evaluate_system

    box = lambda x: [[x, 0], [x + 40, 0], [x + 40, 10], [x, 10]]  # noqa: E731
    gt = [{"points": box(0), "transcription": "Hello"}, {"points": box(100), "transcription": "world"},
          {"points": box(200), "transcription": "###"}]
    lines = [{"box": box(1), "text": "hello "},    # IoU 0.95, case and spaces ignored: counts
             {"box": box(101), "text": "word"},    # right place, wrong text
             {"box": box(201), "text": "xyz"},     # inside a don't-care box: ignored
             {"box": box(400), "text": "ghost"}]   # nothing there
    r = evaluate_system([gt], [{"lines": lines, "det_boxes": [ln["box"] for ln in lines]}])
    assert (r["e2e"]["matched"], r["e2e"]["gt"], r["e2e"]["det"]) == (1, 2, 3)
    assert r["e2e"]["fscore"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert (r["det"]["matched"], r["det"]["gt"], r["det"]["det"]) == (2, 2, 3)


def test_bundle_manifest_and_checks(bundle, models, tmp_path):
    from lite.bundle import ModelSpec, open_bundle, write_bundle

    b = open_bundle(bundle)
    m = b.manifest["models"]
    assert m["rec"]["classes"] == 97 and m["rec"]["use_space_char"] is True
    assert b.nb_bytes == sum((bundle / f"{s}.nb").stat().st_size for s in ("det", "cls", "rec"))
    assert m["det"]["postprocess"]["box_thresh"] == 0.6 and m["cls"]["postprocess"]["cls_thresh"] == 0.9
    assert all(m[s]["opt_version"] == "v2.13-rc" and m[s]["valid_targets"] == ["arm"] for s in m)

    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    data = bytearray((broken / "rec.nb").read_bytes())
    data[-1] ^= 1
    (broken / "rec.nb").write_bytes(bytes(data))
    with pytest.raises(LiteError, match="rec.nb: sha256 does not match the manifest"):
        open_bundle(broken)
    (broken / "cls.nb").unlink()
    with pytest.raises(LiteError, match="cls.nb: missing from the bundle"):
        open_bundle(broken)

    _, nbs = models
    with pytest.raises(LiteError, match="4399 characters, so 4400 or 4401 classes .* rec_float outputs 97"):
        write_bundle(tmp_path / "b2", {s: ModelSpec(nb=nbs[s], name=f"{s}_float") for s in nbs}, "dict/japan_dict.txt")
    with pytest.raises(LiteError, match="rank 4 \\(a det model\\).*pass it as --det"):
        write_bundle(tmp_path / "b3", {"det": ModelSpec(nb=nbs["det"], name="d"), "rec": ModelSpec(nb=nbs["det"], name="r")},
                     "en_dict.txt")
    assert not (tmp_path / "b2").exists() and not (tmp_path / "b3").exists()


def test_ocr_on_arm_matches_paddle_inference(bundle, scenes, tmp_path):
    """`lite ocr` on the emulated ARM .nb and on Paddle Inference: the same
    boxes and text (the pipeline is shared, only the backend differs), and
    each stage is charged its own ARM instructions."""
    arm = lite_cli("ocr", str(scenes), "--bundle", str(bundle), "--target", "arm64-emu", "--count",
                   "--out", str(tmp_path / "arm"))
    assert arm.returncode == 0, arm.stderr[-1500:]
    pi = lite_cli("ocr", str(scenes), "--bundle", str(bundle), "--target", "paddle-inference", "--no-draw",
                  "--out", str(tmp_path / "pi"))
    assert pi.returncode == 0, pi.stderr[-1500:]
    a = json.loads((tmp_path / "arm" / "results.json").read_text())["images"]
    p = json.loads((tmp_path / "pi" / "results.json").read_text())["images"]
    assert [[ln["text"] for ln in r["lines"]] for r in a] == [[ln["text"] for ln in r["lines"]] for r in p]
    for ra, rp in zip(a, p):
        assert np.abs(np.array([ln["box"] for ln in ra["lines"]]) - np.array([ln["box"] for ln in rp["lines"]])).max() <= 1
        assert ra["runs"]["det"] == 1 and ra["instructions"]["det"] > 5e7
        assert ra["runs"]["rec"] == -(-len(ra["det_boxes"]) // 6) and ra["instructions"]["rec"] > 5e7 * ra["runs"]["rec"]
    gts = [[g["transcription"] for g in json.loads(line.split("\t")[1])]
           for line in (scenes / "label.txt").read_text().splitlines()]
    read = sum(ln["text"] in g for r, g in zip(a, gts) for ln in r["lines"])
    assert read >= 3, [[ln["text"] for ln in r["lines"]] for r in a]  # lines read exactly as written
    assert (tmp_path / "arm" / "s0_ocr.jpg").is_file()
    assert "ARM instructions: det" in arm.stdout


def test_upside_down_text_is_turned_by_cls(bundle, scenes):
    """Turned 180 degrees, a scene reads the same: cls flips each crop back."""
    from lite.bundle import open_bundle
    from lite.ocr.engines import InferenceEngines
    from lite.ocr.system import OcrSystem

    b = open_bundle(bundle)
    img = cv2.imread(str(scenes / "s0.png"))
    with InferenceEngines(b.inference_dirs()) as eng:
        system = OcrSystem(eng, b.charset(), b.params())
        up = system(img)
        down = system(cv2.rotate(img, cv2.ROTATE_180))
    assert sum(ln["angle"] == 180 for ln in down.lines) >= len(up.lines) - 1
    assert len(set(ln["text"] for ln in up.lines) & set(ln["text"] for ln in down.lines)) >= 2


def test_bad_input_to_lite_ocr(bundle, tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 300, 3), 255, np.uint8))
    r = lite_cli("ocr", str(blank), "--bundle", str(bundle), "--target", "paddle-inference", "--json", "--no-draw",
                 "--out", str(tmp_path / "o"))
    assert r.returncode == 0 and json.loads(r.stdout[r.stdout.index("["):])[0]["lines"] == []  # no text: empty
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    r = lite_cli("ocr", str(bad), "--bundle", str(bundle))
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == \
        f"error: {bad}: cannot decode this image; give a .jpg, .png, .bmp, .tif or .webp file"
    r = lite_cli("ocr", str(blank), "--bundle", str(tmp_path))
    assert r.returncode == 2 and "not a bundle (no manifest.json)" in r.stderr and "Traceback" not in r.stderr


def test_small_end_to_end_report(bundle, models, scenes, cls_int8_nb, tmp_path):
    """`slim e2e` on two scenes: float bundle vs one whose cls is int8; the
    det and rec .nb are the same files, so their det instruction counts
    match and the float system's F-score equals Paddle Inference's."""
    from lite.bundle import ModelSpec, write_bundle
    from slim.jobs.e2e import run

    dirs, nbs = models
    _, int8_cls = cls_int8_nb
    slim = write_bundle(tmp_path / "slim", {"det": ModelSpec(nb=nbs["det"], name="det"),
                                            "cls": ModelSpec(nb=int8_cls, name="cls_int8", precision="int8"),
                                            "rec": ModelSpec(nb=nbs["rec"], name="rec")}, "en_dict.txt")
    r = run(str(slim), str(bundle), data=str(scenes / "label.txt"), out=str(tmp_path / "e2e"))
    row = r["sets"]["label"]
    assert r["ratios"]["instructions_det"] == pytest.approx(1.0, abs=1e-4)  # allocator paths vary by a few k
    assert r["ratios"]["nb_bytes"] == pytest.approx(
        sum((slim / f"{s}.nb").stat().st_size for s in ("det", "cls", "rec")) /
        sum((bundle / f"{s}.nb").stat().st_size for s in ("det", "cls", "rec")))
    assert row["float"]["e2e"]["fscore"] == row["float_paddle_inference_all"]["e2e"]["fscore"] > 0.3
    assert row["float"]["det"]["hmean"] == row["slim"]["det"]["hmean"]  # same det .nb
    md = (tmp_path / "e2e" / "report.md").read_text()
    assert "end-to-end F-score" in md and "## Targets" in md and ".jpg)" in md
    size = r["targets"][0]
    assert size["value"] == r["bundles"]["slim"]["nb_bytes"] > 3_300_000 and size["passed"] is False  # float det, rec
