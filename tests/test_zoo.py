"""The model zoo and its downloads: official names, cache, checksums."""
import json
import tarfile

import pytest

from lite.download import download, extract_tar, recorded_sha256
from lite.errors import LiteError
from slim.families import zoo

from .test_slim_quant_cls import slim_cli

NAMED = ["ch_ppocr_mobile_v2.0_cls", "ch_ppocr_mobile_v2.0_det", "ch_ppocr_mobile_v2.0_rec", "ch_ppocr_server_v2.0_det",
         "ch_ppocr_server_v2.0_rec", "en_number_mobile_v2.0_rec", "french_mobile_v2.0_rec", "german_mobile_v2.0_rec",
         "korean_mobile_v2.0_rec", "japan_mobile_v2.0_rec", "ch_PP-OCRv4_det", "ch_PP-OCRv4_rec"]


@pytest.mark.parametrize("name", NAMED)
def test_every_named_model_has_official_urls(name):
    m = zoo.get(name)
    assert m.inference_url.startswith("https://paddleocr.bj.bcebos.com/") and m.inference_url.endswith("_infer.tar")
    assert name.replace("_det", "").replace("_rec", "").replace("_cls", "") in m.trained_url
    assert m.task in ("det", "cls", "rec") and (m.dictionary is not None) == (m.task == "rec")


def test_first_download_is_recorded_and_enforced(server, tmp_path, cls_model):
    root, base = server
    with tarfile.open(root / "m_infer.tar", "w") as t:
        for f in ("inference.pdmodel", "inference.pdiparams"):
            t.add(cls_model / f, arcname=f"m_infer/{f}")
    url = f"{base}/m_infer.tar"
    got = download(url, tmp_path / "a.tar")
    assert recorded_sha256(url) == got  # trust on first use
    out = tmp_path / "unpacked"
    extract_tar(tmp_path / "a.tar", out)
    assert sorted(p.name for p in out.iterdir()) == ["inference.pdiparams", "inference.pdmodel"]
    (root / "m_infer.tar").write_bytes(b"tampered")
    with pytest.raises(LiteError, match="does not match the expected"):
        download(url, tmp_path / "b.tar")
    assert not (tmp_path / "b.tar").exists()


def test_archive_escaping_the_cache_is_refused(tmp_path):
    evil = tmp_path / "evil.tar"
    payload = tmp_path / "p.txt"
    payload.write_text("x")
    with tarfile.open(evil, "w") as t:
        t.add(payload, arcname="top/../../outside.txt")
    with pytest.raises(LiteError, match="points outside the archive"):
        extract_tar(evil, tmp_path / "dest")
    assert not (tmp_path / "outside.txt").exists()


def test_cli_names_and_task_checks():
    p = slim_cli("zoo", "-v")
    assert p.returncode == 0 and "japan_mobile_v2.0_rec" in p.stdout and "dict/japan_dict.txt" in p.stdout
    p = slim_cli("quant", "cls", "--model", "det_mobile")
    assert p.returncode == 2 and p.stderr.strip() == \
        "error: ch_ppocr_mobile_v2.0_det is a det model; this command needs a cls model"
    p = slim_cli("quant", "cls", "--model", "no_such_model_v9")
    assert p.returncode == 2 and "unknown model 'no_such_model_v9'" in p.stderr and "Traceback" not in p.stderr


def test_bench_checks_targets_on_a_report(tmp_path):
    gate = "cls_gate_200x3-0-180"
    report = {"task": "cls", "kind": "quant", "model": "ch_ppocr_mobile_v2.0_cls", "metric": "accuracy", "passed": True,
              "baseline": {"metric_value": 0.9127, "nb_bytes_arm": 540_278, "instructions_per_run": 20_287_426},
              "slim": {"metric_value": 0.9114, "nb_bytes_arm": 405_422, "instructions_per_run": 18_867_306},
              "ratios": {"instructions": 0.93}, "seconds": 149.0,
              "eval_set": {"name": gate, "size": 1200, "parts": {gate: 1200}, "gate_size": 1200, "gate_set": gate,
                           "synthetic": []}}
    f = tmp_path / "report.json"
    f.write_text(json.dumps(report))
    p = slim_cli("bench", "cls", "--report", str(f))
    assert p.returncode == 0 and p.stdout.count("PASS") == 4, p.stdout
    report["slim"]["nb_bytes_arm"] = 500_846  # the .nb before unread attributes were dropped
    f.write_text(json.dumps(report))
    p = slim_cli("bench", "cls", "--report", str(f))
    assert p.returncode == 1 and "500,846" in p.stdout and p.stdout.count("FAIL") == 1
    # the same figures gated on synthetic crops prove nothing about real ones
    report["slim"]["nb_bytes_arm"] = 405_422
    report["eval_set"]["synthetic"] = [gate]
    f.write_text(json.dumps(report))
    p = slim_cli("bench", "cls", "--report", str(f))
    assert p.returncode == 1 and p.stdout.count("FAIL") == 1 and "inf" in p.stdout
    # a report of an older version names what it lacks, in one line
    del report["eval_set"]
    f.write_text(json.dumps(report))
    p = slim_cli("bench", "cls", "--report", str(f))
    assert p.returncode == 2 and "Traceback" not in p.stderr and "eval_set" in p.stderr and str(f) in p.stderr
