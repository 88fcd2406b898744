"""`lite opt` through the real paddle_lite_opt."""
import subprocess
import sys

import pytest

from lite.errors import LiteError
from lite.nbfile import read_nb
from lite.opt import opt

from .conftest import lite_cli


def test_weight_quantized_nb_is_smaller(cls_model, cls_arm_nb, tmp_path):
    out = opt(cls_model, target="arm", quant_weights="int8", out=tmp_path / "w8.nb")
    # int8 weights: ~520 KB of float weights shrink about 4x (the program is
    # compacted too, see test_nb_compact)
    full = opt(cls_model, target="arm", out=tmp_path / "f32.nb", compact=False)
    saved = full.stat().st_size - out.stat().st_size
    assert 250_000 < saved < 520_000
    assert read_nb(out).opt_version == "v2.13-rc"


def test_unread_attributes_are_dropped(cls_model, cls_arm_nb, tmp_path):
    from lite.model_dir import program_ops
    from lite.program_strip import UNREAD_ATTRS, _attr_name, _raw, strip_program

    data = (cls_model / "inference.pdmodel").read_bytes()
    stripped, removed = strip_program(data)
    assert removed > 1500 and len(stripped) < len(data) // 5  # op_callstack alone is most of the file
    # the same ops in the same order, and none of the dropped names left
    src, dst = tmp_path / "a.pdmodel", tmp_path / "b.pdmodel"
    src.write_bytes(data), dst.write_bytes(stripped)
    assert program_ops(src) == program_ops(dst)
    left = {_attr_name(a) for _, _, blk in _raw(stripped) for f, _, op in _raw(blk) if f == 4
            for g, _, a in _raw(op) if g == 4}
    assert left and not left & UNREAD_ATTRS and "strides" in left
    # the .nb loses ~90 KB and nothing else (parity of the default .nb is tested in test_targets)
    kept = opt(cls_model, target="arm", out=tmp_path / "keep.nb", keep_attrs=True)
    stripped_only = opt(cls_model, target="arm", out=tmp_path / "strip.nb", compact=False)
    assert 80_000 < kept.stat().st_size - stripped_only.stat().st_size < 120_000
    assert [o.type for o in read_nb(kept).ops] == [o.type for o in read_nb(cls_arm_nb).ops]


def test_cli_writes_nb(cls_model, tmp_path):
    out = tmp_path / "sub" / "cls.nb"
    p = lite_cli("opt", str(cls_model), "--target", "x86", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "opt v2.13-rc" in p.stdout and out.is_file()
    assert [f.name for f in out.parent.iterdir()] == ["cls.nb"]  # no temp files left


def test_missing_and_pir_models_are_refused(tmp_path):
    with pytest.raises(LiteError, match="no such model"):
        opt(tmp_path / "nope")
    pir = tmp_path / "pir"
    pir.mkdir()
    (pir / "inference.json").write_text("{}")
    (pir / "inference.pdiparams").write_bytes(b"\0" * 16)
    with pytest.raises(LiteError, match="PIR .*re-export"):
        opt(pir)


def test_truncated_model_is_refused_and_input_untouched(cls_model, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    data = (cls_model / "inference.pdmodel").read_bytes()
    (bad / "inference.pdmodel").write_bytes(data[: len(data) // 3])
    (bad / "inference.pdiparams").write_bytes((cls_model / "inference.pdiparams").read_bytes())
    before = sorted(p.name for p in bad.iterdir())
    p = lite_cli("opt", str(bad), "--out", str(tmp_path / "o.nb"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "inference.pdmodel" in p.stderr
    assert sorted(p.name for p in bad.iterdir()) == before
    assert not (tmp_path / "o.nb").exists()


def test_unsupported_op_is_named(tmp_path):
    """A real model with an op Paddle Lite has no ARM kernel for (a determinant)."""
    script = tmp_path / "export_det.py"  # dy2static reads the source, so a real file
    script.write_text(f"""
import paddle
class Net(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.fc = paddle.nn.Linear(3, 3)
    def forward(self, x):
        return paddle.linalg.det(self.fc(x))
net = Net()
paddle.jit.save(net, '{tmp_path}/det/inference',
                input_spec=[paddle.static.InputSpec([None, 3, 3], 'float32', 'x')])
""")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-1000:]
    with pytest.raises(LiteError, match=r"no arm kernel for op\(s\) determinant"):
        opt(tmp_path / "det", target="arm", out=tmp_path / "det.nb")
    assert not (tmp_path / "det.nb").exists()


def test_same_model_same_bytes(cls_model, cls_arm_nb, tmp_path):
    # opt leaves the bytes after its version string's NUL uninitialised; lite.opt zeroes them
    again = opt(cls_model, target="arm", out=tmp_path / "again.nb")
    assert again.read_bytes() == cls_arm_nb.read_bytes()
    field = again.read_bytes()[2:18]
    assert field.rstrip(b"\0") == b"v2.13-rc" and field.endswith(b"\0" * 8)
