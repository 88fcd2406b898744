"""Rewrite a `.nb` compactly: its program (topology) and its parameter
records; every parameter's bytes, every op, variable and attribute value are kept.

Paddle Lite's opt writes every operator attribute through the FlatBuffers
object API (third-party/flatbuffers/pre-build/framework_generated.h,
CreateAttr), which stores all sixteen fields of each attribute: an INT
attribute carries seven empty vectors and an empty string beside its one
int. That is about 100 bytes per attribute, and an int8 model has ~1,700 of
them: a third of the int8 en_number rec `.nb` is program, not weights.

Here the same FlatBuffers program is written again with, per attribute, only
its name, its type and the one field its type reads (Lite's readers switch on
the type: lite/model_parser/flatbuffers/op_desc.cc); scalars equal to their
schema default are left out (a reader gets the default back), and every
object is stored once however often it occurs (FlatBuffers offsets may share
a target): `use_mkldnn = false` on 130 ops is one table and 130 offsets.
Attributes that opt alone reads are dropped, now that opt has run:
PaddleSlim's `out_threshold` and `<Arg><i>_threshold` (which opt turns into
the `*_scale` attributes kernels read) and `quantization_type` (read at run
time only for weight-only models, `post_weight_*`). Each parameter record
keeps what ParamDescView reads (name, dims, data type, data). What the
runtime computes is unchanged; tests hold ARM and x86 outputs bit-exact.
"""
from __future__ import annotations

import re
import struct

from . import flatbuf
from .nbfile import param_records

# Schema of lite/model_parser/flatbuffers/framework.fbs: per table, its slots as
# (kind, detail, default): kind scalar (struct format), string, table/tables
# (name of the sub-table), strings, scalars (element format).
SCHEMA: dict[str, list[tuple]] = {
    "ProgramDesc": [("tables", "BlockDesc"), ("table", "Version"), ("table", "OpVersionMap")],
    "Version": [("scalar", "q", 0)],
    "OpVersionMap": [("tables", "OpVersionPair")],
    "OpVersionPair": [("string",), ("table", "OpVersion")],
    "OpVersion": [("scalar", "i", 0)],
    "BlockDesc": [("scalar", "i", 0), ("scalar", "i", 0), ("tables", "VarDesc"), ("tables", "OpDesc"),
                  ("scalar", "i", -1)],
    "VarDesc": [("string",), ("table", "VarType"), ("scalar", "?", False), ("scalar", "?", False)],
    "VarType": [("scalar", "i", 0), ("table", "TensorDesc"), ("table", "LoDTensorDesc"),
                ("table", "LoDTensorDesc"), ("table", "ReaderDesc"), ("table", "Tuple")],
    "TensorDesc": [("scalar", "i", 0), ("scalars", "q")],
    "LoDTensorDesc": [("table", "TensorDesc"), ("scalar", "i", 0)],
    "ReaderDesc": [("tables", "LoDTensorDesc")],
    "Tuple": [("scalars", "i")],
    "OpDesc": [("string",), ("tables", "Var"), ("tables", "Var"), ("tables", "Attr"), ("scalar", "?", False)],
    "Var": [("string",), ("strings",)],
    "Attr": [("string",), ("scalar", "i", 0), ("scalar", "i", 0), ("scalar", "f", 0.0), ("string",),
             ("scalars", "i"), ("scalars", "f"), ("strings",), ("scalar", "?", False), ("scalars", "?"),
             ("scalar", "i", 0), ("scalar", "q", 0), ("scalars", "i"), ("scalars", "q"), ("scalar", "d", 0.0),
             ("scalars", "d")],
}
# AttrType -> the Attr slot its value lives in (framework.fbs enum AttrType).
ATTR_VALUE_SLOT = {0: 2, 1: 3, 2: 4, 3: 5, 4: 6, 5: 7, 6: 8, 7: 9, 8: 10, 9: 11, 10: 12, 11: 13, 12: 15, 15: 14}
_OPT_ONLY = re.compile(r"out_threshold|[A-Z][A-Za-z]*\d+_threshold")


def _opt_only(attr: flatbuf.Table) -> bool:
    name = (attr.string_bytes(0) or b"").decode()
    if _OPT_ONLY.fullmatch(name):
        return True
    if name == "quantization_type":
        return not (attr.string_bytes(4) or b"").startswith(b"post_weight")
    return False


class _Builder:
    """A back-to-front FlatBuffers builder, as the official one is: a child is
    written before its parent, so every uoffset points forward. Each object is
    keyed by its content (a parent's key holds its children's offsets) and
    written once: identical attributes, variables, vectors, strings and
    vtables are shared, which FlatBuffers allows (a buffer may be a DAG)."""

    def __init__(self, share_strings: bool = True):
        self.share_strings = share_strings
        self.chunks: list[bytes] = []  # in write order; the buffer is their reverse
        self.size = 0  # bytes written so far, counted from the buffer's end
        self.memo: dict[tuple, int] = {}
        self.vtables: dict[bytes, int] = {}

    def _put(self, data: bytes) -> int:
        self.chunks.append(data)
        self.size += len(data)
        return self.size  # an object's position is its distance from the end

    def _prep(self, n: int, align: int) -> None:
        """Pad so that an object of n bytes written next starts aligned (the
        buffer's total size is a multiple of 16, so distance-from-end alignment
        is address alignment)."""
        pad = -(self.size + n) % align
        if pad:
            self._put(b"\0" * pad)

    def _once(self, key: tuple, write) -> int:
        if key not in self.memo:
            self.memo[key] = write()
        return self.memo[key]

    def string(self, data: bytes) -> int:
        def write():
            self._prep(len(data) + 1, 4)
            self._put(data + b"\0")
            return self._put(struct.pack("<I", len(data)))
        return self._once(("s", data), write) if self.share_strings else write()

    def vector(self, fmt: str, values: list) -> int:
        def write():
            self._prep(struct.calcsize(fmt) * len(values), max(4, struct.calcsize(fmt)))
            if values:
                self._put(struct.pack("<%d%s" % (len(values), fmt), *values))
            return self._put(struct.pack("<I", len(values)))
        return self._once(("v", fmt, tuple(values)), write)

    def raw_vector(self, data: bytes) -> int:
        """A [byte] vector, not shared (a parameter's data)."""
        self._prep(len(data), 4)
        self._put(data)
        return self._put(struct.pack("<I", len(data)))

    def offsets(self, targets: list[int]) -> int:
        def write():
            self._prep(4 * len(targets), 4)
            end = self.size + 4 * len(targets)  # element i lies at end - 4 i
            self._put(b"".join(struct.pack("<I", end - 4 * i - t) for i, t in enumerate(targets)))
            return self._put(struct.pack("<I", len(targets)))
        return self._once(("o", tuple(targets)), write)

    def table(self, scalars: dict[int, tuple[str, object]], refs: dict[int, int]) -> int:
        """A table with `scalars` {slot: (fmt, value)} and uoffsets {slot: target}."""
        def write():
            layout = sorted([(struct.calcsize(f), s, f, v) for s, (f, v) in scalars.items()]
                            + [(4, s, "I", t) for s, t in refs.items()], key=lambda x: (-x[0], x[1]))
            offs, size = {}, 4
            for sz, slot, _, _ in layout:
                size = (size + sz - 1) // sz * sz
                offs[slot] = size
                size += sz
            nslots = max(offs) + 1 if offs else 0
            vt = struct.pack("<HH", 4 + 2 * nslots, size) + b"".join(
                struct.pack("<H", offs.get(i, 0)) for i in range(nslots))
            self._prep(size, 8 if any(sz == 8 for sz, *_ in layout) else 4)
            pos = self.size + size
            # a new vtable goes just before the table (written next); a known one is reused
            vt_pos = self.vtables.get(vt, pos + len(vt))
            body = bytearray(size)
            struct.pack_into("<i", body, 0, vt_pos - pos)
            for _, slot, f, v in layout:
                struct.pack_into("<" + f, body, offs[slot], pos - offs[slot] - v if slot in refs else v)
            self._put(bytes(body))
            if vt not in self.vtables:
                self.vtables[vt] = self._put(vt)
            return pos
        return self._once(("t", tuple(sorted(scalars.items())), tuple(sorted(refs.items()))), write)

    def finish(self, root: int, align: int = 16) -> bytes:
        self._prep(4, align)
        self._put(struct.pack("<I", self.size + 4 - root))
        return b"".join(reversed(self.chunks))


def _emit(b: _Builder, t: flatbuf.Table, kind: str) -> int:
    schema = SCHEMA[kind]
    keep = range(len(schema))
    if kind == "Attr":  # name, type and the one value field the type reads
        value_slot = ATTR_VALUE_SLOT.get(t.scalar(1, "i", 0))
        keep = [0, 1, value_slot] if value_slot is not None else keep
    scalars, refs = {}, {}
    for slot in keep:
        spec = schema[slot]
        if not t.has(slot):
            continue
        if spec[0] == "scalar":
            v = t.scalar(slot, spec[1])
            if v != spec[2]:
                scalars[slot] = (spec[1], v)
        else:
            refs[slot] = _emit_child(b, t, slot, spec)
    return b.table(scalars, refs)


def _emit_child(b: _Builder, t: flatbuf.Table, slot: int, spec: tuple) -> int:
    kind = spec[0]
    if kind == "string":
        return b.string(t.string_bytes(slot) or b"")
    if kind == "scalars":
        return b.vector(spec[1], t.scalars(slot, spec[1]))
    if kind == "table":
        return _emit(b, t.table(slot), spec[1])
    if kind == "strings":
        return b.offsets([b.string(s) for s in t.strings_bytes(slot)])
    items = t.tables(slot)
    if spec[1] == "Attr":
        items = [a for a in items if not _opt_only(a)]
    return b.offsets([_emit(b, item, spec[1]) for item in items])


def compact_program(topology: bytes, share_strings: bool = True) -> bytes:
    """The serialized ProgramDesc, re-encoded as the module doc says."""
    b = _Builder(share_strings)
    return b.finish(_emit(b, flatbuf.root(memoryview(topology)), "ProgramDesc"))


def compact_nb(data: bytes) -> bytes:
    """A whole `.nb` (meta version 2) with its program and its parameter
    records compacted; the header and every parameter's bytes are unchanged."""
    topo_size, = struct.unpack_from("<Q", data, 18)
    if 26 + topo_size > len(data):
        raise ValueError(f"topology of {topo_size} bytes runs past the end of the file")
    topo = data[26:26 + topo_size]
    # Measured: the v2.13-rc light API fails to load a weight-only quantized
    # model (opt --quant_model; ops carry quantization_type post_weight_*)
    # whose strings are shared ("basic_string::_M_create" while loading;
    # bisected to a quantized bias's name, stored once for its VarDesc and the
    # conv's Bias argument). The runtime's reason was not found; with each
    # string written where it is used, these files load and run as opt's do.
    program = compact_program(topo, share_strings=b"post_weight" not in topo)
    # the parameter section starts at the same offset modulo 16 as before
    program += b"\0" * ((topo_size - len(program)) % 16)
    params = compact_params(data[26 + topo_size:])
    out = data[:18] + struct.pack("<Q", len(program)) + program + params
    return out if len(out) < len(data) else data


def compact_params(section: bytes) -> bytes:
    """The parameter section with each record's ParamDesc compacted; its header is kept."""
    head, records = param_records(section)
    out = [section[:head]]
    for start, end in records:
        record = compact_param(section[start:end])
        out.append(struct.pack("<II", len(record) + 4, 4) + record)
    return b"".join(out)


def compact_param(record: bytes) -> bytes:
    """One serialized ParamDesc (lite/model_parser/flatbuffers/param.fbs) with
    only what ParamDescView reads: name, the LoDTensorDesc's dims, data type
    and data (and its lod, when it has one). opt writes the unused version
    table and empty lod too, about 30 bytes a parameter."""
    p = flatbuf.root(memoryview(record))
    if p.scalar(2, "B", 0) != 1:  # VariableDesc union: 1 is LoDTensorDesc, the only member
        raise ValueError("parameter is not a LoDTensorDesc")
    t = p.table(3)
    b = _Builder()
    lod = t.scalars(1, "q")
    refs = {2: b.vector("q", t.scalars(2, "q")), 4: b.raw_vector(t.string_bytes(4) or b"")}
    if lod:
        refs[1] = b.vector("q", lod)
    scalars = {s: ("i", v) for s, v in ((0, t.scalar(0, "i", 0)), (3, t.scalar(3, "i", 0))) if v}
    tensor = b.table(scalars, refs)
    # 8: the widest scalar is a dim (int64); the loader copies each record to an aligned buffer
    return b.finish(b.table({2: ("B", 1)}, {1: b.string(p.string_bytes(1) or b""), 3: tensor}), align=8)
