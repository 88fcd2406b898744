"""Where a job's real images come from: a folder, a label file (det or rec),
an ICDAR 2015 folder, or nothing, which falls back to synthetic data with a
one-line notice; and the benchmark sets `slim bench` uses."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from lite.errors import LiteError
from slim.data import sources

from .conftest import SHARED, need

TRAIN = SHARED / "data" / "icdar2015_train"


@pytest.fixture(scope="module")
def icdar_small(tmp_path_factory):
    """Five ICDAR 2015 training photos with their quads, as an ICDAR folder."""
    src = need(TRAIN)
    d = tmp_path_factory.mktemp("icdar_small")
    (d / "imgs").mkdir()
    (d / "gt").mkdir()
    for i in range(11, 16):
        (d / "imgs" / f"img_{i}.jpg").symlink_to(src / "imgs" / f"img_{i}.jpg")
        (d / "gt" / f"gt_img_{i}.txt").symlink_to(src / "gt" / f"gt_img_{i}.txt")
    return d


def test_photos_from_a_folder_a_label_file_and_an_icdar_folder(icdar_small, tmp_path):
    labelled = sources.photos(icdar_small)
    assert len(labelled) == 5 and all(gt for _, gt in labelled)
    plain = sources.photos(icdar_small / "imgs")  # a plain folder: photos without labels
    assert len(plain) == 5 and all(gt is None for _, gt in plain)
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(labelled, plain))
    # the same photos as a PaddleOCR det label file
    import json

    lines = [f"{icdar_small / 'imgs' / f'img_{i}.jpg'}\t" + json.dumps(
        [{"transcription": g["transcription"], "points": g["points"]} for g in gt])
        for i, (_, gt) in zip(range(11, 16), labelled)]
    f = tmp_path / "det_label.txt"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    again = sources.photos(f)
    assert [g["points"] for _, gt in again for g in gt] == [g["points"] for _, gt in labelled for g in gt]


def test_word_crops_are_cut_from_quads_and_read_from_rec_label_files(icdar_small, tmp_path):
    words = sources.crops(icdar_small)
    photos = sources.photos(icdar_small)
    care = [g["transcription"] for _, gt in photos for g in gt if g["transcription"] not in ("###", "")]
    assert [t for _, t in words] == care and len(care) >= 10
    for (crop, _), in zip(words.items[:3]):
        assert crop.ndim == 3 and crop.shape[1] >= crop.shape[0] // 2  # upright words (tall ones are turned)
    # a rec label file of those crops, and the folder holding it
    d = tmp_path / "words"
    d.mkdir()
    for k, (crop, _) in enumerate(words):
        cv2.imwrite(str(d / f"w{k}.png"), crop)
    (d / "rec_gt.txt").write_text("".join(f"w{k}.png\t{t}\n" for k, (_, t) in enumerate(words)), encoding="utf-8")
    assert [t for _, t in sources.crops(d / "rec_gt.txt")] == care
    assert [t for _, t in sources.crops(d)] == care
    (d / "rec_gt.txt").unlink()
    assert [t for _, t in sources.crops(d)] == [""] * len(care)  # a plain folder: crops without text


def test_crops_are_read_once_per_process_until_the_file_changes(tmp_path, monkeypatch):
    import os

    d = tmp_path / "w"
    d.mkdir()
    for k in range(3):
        cv2.imwrite(str(d / f"w{k}.png"), np.full((8, 24, 3), 40 * k, np.uint8))
    f = d / "rec_gt.txt"
    f.write_text("w0.png\ta\nw1.png\tb\n")
    first = sources.crops(f)
    reads = []
    monkeypatch.setattr(sources, "_read_crops", lambda p: reads.append(p) or first)
    again = sources.crops(f)
    assert not reads and [t for _, t in again] == ["a", "b"] and again is not first
    again.items.pop()  # a caller's list is its own
    assert len(sources.crops(f)) == 2
    monkeypatch.undo()
    f.write_text("w0.png\ta\nw1.png\tb\nw2.png\tc\n")
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a coarse clock must not hide the edit
    assert [t for _, t in sources.crops(f)] == ["a", "b", "c"]


def test_missing_and_unreadable_sources_are_named(tmp_path):
    with pytest.raises(LiteError, match="no such file or folder"):
        sources.photos(tmp_path / "nope")
    f = tmp_path / "notes.txt"
    f.write_text("just some text\n")
    with pytest.raises(LiteError, match="not a PaddleOCR det label file"):
        sources.photos(f)


def test_nothing_given_falls_back_to_synthetic_with_a_notice(capsys):
    from slim.families import get_family
    from slim.recipe import load_quant_recipe

    recipe = load_quant_recipe(None)  # data.calib and data.gate empty
    task = get_family("cls")
    calib = task.calibration_reader(recipe, 8)
    assert calib.name == "synthetic-calib" and len(calib) == 8
    gate = task.eval_sets(recipe, None)
    assert [s.name for s in gate] == ["synthetic-eval"]
    err = capsys.readouterr().err
    assert "notice: no real word crops given (--calib DIR|LABEL_FILE" in err
    assert "notice: no real labelled crops given (--data" in err
    assert "accuracy on real images is not proven" in err and err.count("\n") == 2


def test_real_sources_feed_the_cls_job(icdar_small):
    from slim.families import get_family
    from slim.recipe import load_quant_recipe

    recipe = load_quant_recipe(None)
    recipe.data.calib = str(icdar_small)
    task = get_family("cls")
    calib = task.calibration_reader(recipe, 8)
    assert len(calib) == 8 and [lab for _, lab in calib] == ["0", "180"] * 4
    x = task.calibration(recipe, 8)
    assert x.shape == (8, 3, 48, 192)
    sets = task.eval_sets(recipe, [str(icdar_small)])  # words cut from labelled photos, each at 0 and 180
    assert len(sets) == 1 and len(sets[0]) == 2 * len(sources.crops(icdar_small))


def test_bench_sets_are_the_real_ones_and_train_never_gates():
    from slim.data import benchsets

    need(SHARED / "data" / "icdar2015_test")
    det = benchsets.for_family("det")
    assert det.data == [str(SHARED / "data" / "icdar2015_test")] and det.images == str(TRAIN)
    rec = benchsets.for_family("rec")
    assert [p.rsplit("/", 1)[1] for p in rec.data] == ["ic15_words_test", "iiit5k_test", "svt_test"]
    cls = benchsets.for_family("cls")
    words = sources.crops(cls.data[0])
    rows = (Path(cls.data[0]) / "rec_gt.txt").read_text().splitlines()
    assert len(words) == len(rows) == 600 and all("_test/images/" in r for r in rows)
    for b in (det, rec, cls):
        assert all("train" not in p for p in b.data)


def test_rec_bench_scores_the_benchmarks_protocol_whatever_the_recipe(monkeypatch):
    """PP-OCRv4's recipe scores exact words (its users' sets are Chinese); on
    IC15 / IIIT5K / SVT the bench scores letters and digits, case ignored."""
    import argparse

    import slim.jobs.quant
    from slim.cli import _bench_run
    from slim.jobs.registry import BENCHES
    from slim.recipe import load_quant_recipe

    need(SHARED / "data" / "icdar2015_test")
    seen = {}
    monkeypatch.setattr(slim.jobs.quant, "run", lambda recipe, **kw: seen.update(recipe=recipe, **kw))
    assert load_quant_recipe(None, "rec_ppocrv4_quant.yaml").gate.metric == ""
    _bench_run(argparse.Namespace(task="rec", model="ch_PP-OCRv4_rec", recipe=None, out=None), BENCHES["rec"])
    assert seen["recipe"].gate.metric == "accuracy_alnum" and seen["recipe"].model == "ch_PP-OCRv4_rec"
    assert seen["recipe"].gate.nb_subset == 100 and len(seen["data"]) == 3
