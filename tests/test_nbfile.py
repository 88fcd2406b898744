"""`lite info`: the .nb reader on real files, and on broken ones."""
import json

import pytest

from lite.errors import LiteError
from lite.nbfile import read_nb

from .conftest import lite_cli


def test_arm_nb_header_and_ops(cls_arm_nb):
    info = read_nb(cls_arm_nb)
    assert info.opt_version == "v2.13-rc"
    assert info.targets == ["arm"]
    assert info.inputs == ["x"] and info.outputs == ["softmax_0.tmp_0"]
    assert info.input_shapes["x"][1] == 3
    counts = info.op_summary()
    # MobileNetV3 small x0.35: the convolutions run as ARM float kernels
    assert counts["conv2d:arm/float"] > 30
    assert counts["depthwise_conv2d:arm/float"] == 11
    assert not info.is_quantized
    assert 500_000 < info.bytes < 800_000  # ~510 KB of float weights, then the compact program


def test_x86_nb_targets(cls_x86_nb):
    info = read_nb(cls_x86_nb)
    assert info.targets == ["x86"]
    assert "conv2d:x86/float" in info.op_summary()


def test_int8_nb_is_quantized(cls_int8_nb):
    _, nb = cls_int8_nb
    info = read_nb(nb)
    assert info.is_quantized
    assert info.op_summary()["conv2d:arm/int8"] >= 40


def test_v210_nb_version(cls_v210_nb):
    assert read_nb(cls_v210_nb).opt_version == "v2.10-rc"


@pytest.mark.parametrize("keep", [10, 30, 5000, -100])
def test_truncated_nb_is_refused(cls_arm_nb, tmp_path, keep):
    data = cls_arm_nb.read_bytes()
    bad = tmp_path / "cut.nb"
    bad.write_bytes(data[:keep] if keep > 0 else data[:keep])
    with pytest.raises(LiteError, match=r"cut\.nb: not a valid Paddle Lite \.nb file"):
        read_nb(bad)


def test_corrupt_topology_is_refused(cls_arm_nb, tmp_path):
    data = bytearray(cls_arm_nb.read_bytes())
    data[26:26 + 64] = b"\xff" * 64  # the FlatBuffers root and first vtable
    bad = tmp_path / "corrupt.nb"
    bad.write_bytes(bytes(data))
    with pytest.raises(LiteError, match="corrupt.nb"):
        read_nb(bad)


def test_info_json_keys_and_errors(cls_arm_nb, tmp_path):
    p = lite_cli("info", str(cls_arm_nb), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["bytes"] == cls_arm_nb.stat().st_size
    assert d["opt_version"] == "v2.13-rc"
    assert {"type": "conv2d", "target": "arm", "precision": "float"} in d["ops"]
    assert any("armv8 on Paddle Lite v2.13-rc" in s for s in d["loads_on"])

    junk = tmp_path / "junk.nb"
    junk.write_bytes(b"\x02\x00not a model at all, just text" * 3)
    p = lite_cli("info", str(junk))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert p.stderr.count("\n") == 1 and "junk.nb" in p.stderr

    p = lite_cli("info", str(tmp_path / "missing.nb"))
    assert p.returncode == 2 and "missing.nb: no such .nb file" in p.stderr
