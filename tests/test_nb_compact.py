"""The compact `.nb` program (lite/nb_compact.py): smaller, the same ops,
variables and attribute values, and bit-identical outputs on ARM and x86."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from lite import flatbuf
from lite.nb_compact import ATTR_VALUE_SLOT, compact_nb
from lite.nbfile import param_records

FMT = {2: "i", 3: "f", 8: "?", 10: "i", 11: "q", 14: "d"}
VEC = {5: "i", 6: "f", 9: "?", 12: "i", 13: "q", 15: "d"}


def _program(path) -> list:
    """Per op: type, inputs, outputs and {attr: (type, value)}, read with the plain reader."""
    data = open(path, "rb").read()
    topo, = struct.unpack_from("<Q", data, 18)
    block = flatbuf.root(memoryview(data)[26:26 + topo]).tables(0)[0]
    ops = []
    for op in block.tables(3):
        attrs = {}
        for a in op.tables(3):
            t = a.scalar(1, "i")
            slot = ATTR_VALUE_SLOT[t]
            v = (a.string(4) or "" if slot == 4 else a.strings(7) if slot == 7
                 else a.scalars(slot, VEC[slot]) if slot in VEC else a.scalar(slot, FMT[slot]))
            attrs[a.string(0)] = (t, v)
        ops.append((op.string(0), [(v.string(0), v.strings(1)) for v in op.tables(1)],
                    [(v.string(0), v.strings(1)) for v in op.tables(2)], attrs))
    names = [(v.string(0), v.table(1).scalar(0, "i"), v.scalar(2, "?")) for v in block.tables(2)]
    return ops, names, _params(data[26 + topo:])


def _attr_tables(path) -> tuple[int, int]:
    """(attribute references, distinct attribute tables) in a `.nb` program."""
    data = open(path, "rb").read()
    topo, = struct.unpack_from("<Q", data, 18)
    block = flatbuf.root(memoryview(data)[26:26 + topo]).tables(0)[0]
    positions = [a.pos for op in block.tables(3) for a in op.tables(3)]
    return len(positions), len(set(positions))


def _params(section: bytes) -> list:
    """Per parameter record: name, lod, dims, data type and data bytes."""
    out = []
    for start, end in param_records(section)[1]:
        p = flatbuf.root(memoryview(section)[start:end])
        t = p.table(3)
        out.append((p.string(1), t.scalars(1, "q"), t.scalars(2, "q"), t.scalar(3, "i"), t.string_bytes(4)))
    return out


def _same_program(full, compact, dropped=frozenset()):
    (ops_a, vars_a, params_a), (ops_b, vars_b, params_b) = _program(full), _program(compact)
    assert vars_a == vars_b and params_a == params_b  # every parameter's bytes kept
    assert len(ops_a) == len(ops_b)
    gone = set()
    for (ta, ia, oa, xa), (tb, ib, ob, xb) in zip(ops_a, ops_b):
        assert (ta, ia, oa) == (tb, ib, ob)
        assert {k: v for k, v in xa.items() if k in xb} == xb
        gone |= set(xa) - set(xb)
    assert gone <= dropped, gone - dropped
    return gone


def _outputs(target, nb, x):
    from lite.targets import get_target

    opts = {"cpu": "cortex-a76"} if target.endswith("-emu") else {}
    with get_target(target, **opts).load(str(nb)) as s:
        return [np.array(v) for v in s.run({"x": x}).values()]


def test_float_cls_compacts_with_identical_outputs(cls_model, tmp_path):
    from lite.opt import opt

    x = np.random.RandomState(0).uniform(-1, 1, (2, 3, 48, 192)).astype(np.float32)
    for target, kind in (("arm", "arm64-emu"), ("x86", "x86")):
        full = opt(cls_model, target=target, out=tmp_path / f"full_{target}.nb", compact=False)
        small = opt(cls_model, target=target, out=tmp_path / f"small_{target}.nb")
        _same_program(full, small)  # a float program has no opt-only attributes
        saved = full.stat().st_size - small.stat().st_size
        assert saved > 140_000, saved  # of a ~170 KB program
        refs, tables = _attr_tables(small)
        assert tables < refs / 5, (tables, refs)  # equal attributes are stored once
        for a, b in zip(_outputs(kind, full, x), _outputs(kind, small, x)):
            assert np.array_equal(a, b)


def test_int8_program_drops_thresholds_and_keeps_outputs(cls_model, tmp_path):
    from lite.opt import opt
    from slim.methods.ptq import quant_post_static

    calib = np.random.RandomState(1).uniform(-1, 1, (8, 3, 48, 192)).astype(np.float32)
    q = quant_post_static(cls_model, tmp_path / "q", calib, "abs_max", batch_size=8)
    full = opt(q, target="arm", out=tmp_path / "full.nb", compact=False)
    small = opt(q, target="arm", out=tmp_path / "small.nb")
    gone = _same_program(full, small, dropped=frozenset({"out_threshold", "Out0_threshold", "Output0_threshold",
                                                         "X0_threshold", "Y0_threshold", "quantization_type"}))
    assert {"out_threshold", "quantization_type"} <= gone
    assert small.stat().st_size < 0.75 * full.stat().st_size
    x = calib[:1]
    for a, b in zip(_outputs("arm64-emu", full, x), _outputs("arm64-emu", small, x)):
        assert np.array_equal(a, b)


def test_weight_only_models_are_compacted_without_shared_strings(cls_model, tmp_path):
    """The light API de-quantizes weight-only int8 weights when it loads the
    model (keyed on quantization_type = post_weight_*), and fails to load such
    a model re-encoded with shared strings: those are compacted with every
    string written where it is used, and give opt's outputs bit for bit."""
    import struct as st

    from lite.nb_compact import compact_program
    from lite.opt import opt

    full = opt(cls_model, target="arm", quant_weights="int8", out=tmp_path / "full.nb", compact=False)
    small = opt(cls_model, target="arm", quant_weights="int8", out=tmp_path / "small.nb")
    assert small.stat().st_size < 0.85 * full.stat().st_size  # measured: 0.76
    x = np.random.RandomState(2).uniform(-1, 1, (1, 3, 48, 192)).astype(np.float32)
    for a, b in zip(_outputs("arm64-emu", full, x), _outputs("arm64-emu", small, x)):
        assert np.array_equal(a, b)
    # the shared-strings form, the one that fails to load, is what is avoided
    data = full.read_bytes()
    topo = data[26:26 + st.unpack_from("<Q", data, 18)[0]]
    assert len(compact_program(topo)) < len(compact_program(topo, share_strings=False))


def test_a_truncated_file_raises():
    with pytest.raises(ValueError):
        compact_nb(b"\x02\x00" + b"v2.13-rc".ljust(16, b"\0") + struct.pack("<Q", 1 << 40) + b"\0" * 8)
