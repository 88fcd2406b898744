"""The official v2.0 slim `.nb` files (PaddleOCR's Lite demo, opt v2.10-rc)
at PaddleOCR's working shapes: their declared input shapes are the export's
(cls and rec ?x3x32x100, det ?x3x640x640), a hint, not a rule."""
import json

import pytest

from .conftest import SHARED, lite_cli, need

OFFICIAL = SHARED / "models" / "official_slim_nb"


def _nb(stage: str) -> str:
    return str(need(OFFICIAL / f"ch_ppocr_mobile_v2.0_{stage}_slim_opt.nb"))


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """The first 24 ICDAR 2015 test word crops, as a PaddleOCR rec label file."""
    src = need(SHARED / "data" / "ic15_words_test" / "rec_gt.txt")
    d = tmp_path_factory.mktemp("ic15_words")
    lines = src.read_text(encoding="utf-8").splitlines()[:24]
    (d / "rec_gt.txt").write_text("".join(f"{src.parent / ln}\n" for ln in lines), encoding="utf-8")
    return d


def test_cls_runs_at_the_demo_shape_and_reports_the_target():
    """Declared ?x3x32x100; PaddleOCR's Lite demo feeds 3x48x192. --target is
    omitted: an ARM .nb runs on arm64-emu (here on its own v2.10-rc runtime)."""
    p = lite_cli("run", _nb("cls"), "--shape", "1,3,48,192")
    assert p.returncode == 0, p.stderr
    assert "shape [1, 2]" in p.stdout
    p = lite_cli("run", _nb("cls"), "--shape", "1,1,48,192")
    assert p.returncode == 2 and "model's weights take 3" in p.stderr and p.stderr.count("\n") == 1


def test_a_shape_the_runtime_rejects_is_named_in_one_line():
    """det at 100x100: the FPN's upsampled maps no longer line up, and the runtime says so."""
    p = lite_cli("run", _nb("det"), "--shape", "1,3,100,100")
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.count("\n") == 1
    assert "the runtime rejected input 'x' of shape 1x3x100x100 (the model declares ?x3x640x640" in p.stderr


def test_cls_eval_on_real_crops_at_48x192(words):
    """Real word crops, each upright and turned by 180 degrees."""
    crops = words / "upright"
    crops.mkdir(exist_ok=True)
    import shutil

    for ln in (words / "rec_gt.txt").read_text().splitlines()[:12]:
        src = ln.split("\t")[0]
        shutil.copy(src, crops / src.rsplit("/", 1)[1])
    p = lite_cli("eval", _nb("cls"), "--task", "cls", "--data", str(crops), "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["size"] == 24 and r["target"]["target"] == "arm64-emu"
    assert r["value"] >= 0.75  # measured 0.875; a wrong shape or stale output gives ~0.5
    assert "per_item" not in r
    # per-crop results come back in the reader's order whichever runner scored them (the gate's bootstrap pairs them)
    from lite.evaluate import eval_nb
    from lite.ocr.cls_labels import user_data

    two, one = (eval_nb(_nb("cls"), user_data(str(crops)), workers=w, batch_size=8) for w in (2, 1))
    assert two["per_item"] == one["per_item"] and len(two["per_item"]) == 24
    assert sum(two["per_item"]) / 24 == two["value"] == r["value"]


def test_rec_eval_on_arm_one_crop_per_run(words):
    """The official rec .nb reads only the first crop of a batch right on its
    runtime, so `lite eval --task rec` runs one crop per run by default, as
    PaddleOCR's demo does; the figure equals decoding each crop on its own."""
    from lite.evaluate import rec_setup
    from lite.ocr.rec import decode, preprocess, word_metrics
    from lite.readers import read_rec_data
    from lite.targets import get_target

    p = lite_cli("eval", _nb("rec"), "--task", "rec", "--data", str(words), "--dict", "ppocr_keys_v1.txt", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["size"] == 24 and r["height"] == 32 and r["min_width"] == 320
    charset, _, _ = rec_setup(_nb("rec"), "ppocr_keys_v1.txt")
    assert len(charset) == 6625 and charset.use_space
    reader = read_rec_data(words)
    with get_target("arm64-emu").load(_nb("rec")) as s:
        texts = [decode(next(iter(s.run(preprocess(img)[None]).values())), charset)[0][0] for img, _ in reader]
    want = word_metrics(texts, [t for _, t in reader])
    assert r["accuracy"] == want["accuracy"] and r["norm_edit_dis"] == pytest.approx(want["norm_edit_dis"])
    assert r["accuracy_alnum"] >= 0.6  # measured 0.75 on these 24 crops


def test_rec_eval_needs_a_dictionary(words):
    p = lite_cli("eval", _nb("rec"), "--task", "rec", "--data", str(words))
    assert p.returncode == 2 and "Give --dict" in p.stderr and p.stderr.count("\n") == 1
