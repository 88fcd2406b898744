"""Read a Paddle Lite `.nb` (naive_buffer) file without any runtime.

Layout (meta version 2, Paddle Lite >= 2.7): uint16 meta_version, char[16]
opt version, uint64 topology size, a FlatBuffers ProgramDesc, then a params
section (uint16 version, uint16 meta size, uint16 header size, uint16 param
count, uint32 max tensor size, then one length-prefixed FlatBuffers ParamDesc
per parameter). Walking the params section to its exact end is how a
truncated file is told apart from a whole one.
"""
from __future__ import annotations

import os
import re
import struct
from collections import Counter
from dataclasses import dataclass, field

from . import flatbuf
from .errors import LiteError

# Paddle Lite's TargetType and PrecisionType enums (paddle_place.h).
TARGETS = {0: "unk", 1: "host", 2: "x86", 3: "cuda", 4: "arm", 5: "opencl", 6: "any",
           7: "fpga", 8: "npu", 9: "xpu", 10: "bm", 11: "mlu", 12: "rknpu", 13: "apu",
           14: "huawei_ascend_npu", 15: "imagination_nna", 16: "intel_fpga", 17: "metal",
           18: "nnadapter"}
PRECISIONS = {0: "unk", 1: "float", 2: "int8", 3: "int32", 4: "any", 5: "fp16", 6: "bool",
              7: "int64", 8: "int16", 9: "uint8", 10: "fp64"}
KERNEL_ATTR = "__@kernel_type_attr@__"
# Ops that only move data in or out of the graph.
_IO_OPS = {"feed", "fetch"}

VERSION_FIELD = slice(2, 18)  # char[16] opt version, NUL-terminated


def clean_version_field(data: bytes) -> bytes:
    """The `.nb` with the bytes after its opt version's NUL set to zero: opt
    copies the version string into an uninitialised char[16], so two runs on
    one model wrote files that differed there and nowhere else. The runtime
    reads the field as a C string, so what follows the NUL is never read."""
    field = data[VERSION_FIELD]
    end = field.find(b"\0")
    if end < 0 or not any(field[end:]):
        return data
    return data[:VERSION_FIELD.start + end] + bytes(len(field) - end) + data[VERSION_FIELD.stop:]


@dataclass
class NbOp:
    type: str
    target: str
    precision: str
    # opt --quant_model stored its weights int8 (quantization_type post_weight_*),
    # which the runtime dequantizes when it loads the model
    weight_only: bool = False


@dataclass
class NbInfo:
    path: str
    bytes: int
    meta_version: int
    opt_version: str
    ops: list[NbOp]
    params: int
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    # declared input dims, -1 where the model takes any size
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    output_shapes: dict[str, list[int]] = field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        """Hardware targets the kernels were chosen for (host kernels excluded)."""
        seen = {op.target for op in self.ops if op.target not in ("host", "any", "unk")}
        return sorted(seen)

    @property
    def is_quantized(self) -> bool:
        return any(op.precision == "int8" for op in self.ops)

    @property
    def weight_only_ops(self) -> int:
        return sum(op.weight_only for op in self.ops)

    def op_summary(self) -> dict[str, int]:
        """`type:target/precision` -> count, the compact view `lite info` prints."""
        c = Counter(f"{op.type}:{op.target}/{op.precision}" for op in self.ops)
        return dict(sorted(c.items()))

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "bytes": self.bytes,
            "meta_version": self.meta_version,
            "opt_version": self.opt_version,
            "targets": self.targets,
            "quantized": self.is_quantized,
            "inputs": self.inputs,
            "input_shapes": self.input_shapes,
            "outputs": self.outputs,
            "output_shapes": self.output_shapes,
            "params": self.params,
            "ops": [{"type": o.type, "target": o.target, "precision": o.precision} for o in self.ops],
            "op_counts": self.op_summary(),
        }


def read_nb(path: str | os.PathLike) -> NbInfo:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise LiteError(f"{path}: no such .nb file; make one with `lite opt MODEL --target arm`")
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _parse(path, data)
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        raise LiteError(
            f"{path}: not a valid Paddle Lite .nb file ({e}); the file is corrupt or truncated, "
            "regenerate it with `lite opt`"
        ) from None


def _parse(path: str, data: bytes) -> NbInfo:
    if len(data) < 26:
        raise ValueError(f"only {len(data)} bytes, shorter than the 26-byte header")
    meta_version, = struct.unpack_from("<H", data, 0)
    if meta_version != 2:
        raise ValueError(f"meta version {meta_version}; only version 2 (Paddle Lite >= 2.7) is supported")
    opt_version = data[2:18].split(b"\0")[0].decode("ascii", errors="replace")
    if not re.fullmatch(r"v?\d+\.\d+[\w.\-]*", opt_version):
        raise ValueError(f"unreadable opt version {opt_version!r} in the header")
    topo_size, = struct.unpack_from("<Q", data, 18)
    end = 26 + topo_size
    if end > len(data):
        raise ValueError(f"topology of {topo_size} bytes runs past the end of the file")
    prog = flatbuf.root(memoryview(data)[26:end])
    ops: list[NbOp] = []
    inputs: list[tuple[int, str]] = []
    outputs: list[tuple[int, str]] = []
    blocks = prog.tables(0)
    if not blocks:
        raise ValueError("program has no blocks")
    for op in blocks[0].tables(3):
        optype = op.string(0) or "?"
        target, precision = "unk", "unk"
        col, weight_only = None, False
        for attr in op.tables(3):
            name = attr.string(0)
            if name == KERNEL_ATTR:
                parts = (attr.string(4) or "").split("/")
                if len(parts) >= 4:
                    target = TARGETS.get(int(parts[2]), parts[2])
                    precision = PRECISIONS.get(int(parts[3]), parts[3])
            elif name == "col":
                col = attr.scalar(2, "i")
            elif name == "quantization_type":
                weight_only = (attr.string(4) or "").startswith("post_weight")
        if optype == "feed":
            inputs.append((col or 0, _first_arg(op, 2)))
        elif optype == "fetch":
            outputs.append((col or 0, _first_arg(op, 1)))
        ops.append(NbOp(optype, target, precision, weight_only))
    params = _walk_params(data, end)
    in_names, out_names = [n for _, n in sorted(inputs)], [n for _, n in sorted(outputs)]
    dims = _var_dims(blocks[0], set(in_names) | set(out_names))
    return NbInfo(path, len(data), meta_version, opt_version, ops, params, in_names, out_names,
                  {n: dims.get(n, []) for n in in_names}, {n: dims.get(n, []) for n in out_names})


def _var_dims(block: flatbuf.Table, names: set[str]) -> dict[str, list[int]]:
    """Declared dims of the named LoD tensors (VarDesc.type.lod_tensor.tensor.dims)."""
    out = {}
    for var in block.tables(2):
        name = var.string(0)
        if name not in names:
            continue
        vtype = var.table(1)
        lod = vtype.table(2) if vtype else None
        tensor = lod.table(0) if lod else None
        if tensor:
            out[name] = [int(d) for d in tensor.scalars(1, "q")]
    return out


def _first_arg(op: flatbuf.Table, slot: int) -> str:
    """First argument of the op's input (slot 1) or output (slot 2) variables."""
    for var in op.tables(slot):
        args = var.strings(1)
        if args:
            return args[0]
    return "?"


def _walk_params(data: bytes, pos: int) -> int:
    return len(param_records(memoryview(data)[pos:])[1])


def param_records(section) -> tuple[int, list[tuple[int, int]]]:
    """(header length, [(start, end) of each parameter's serialized ParamDesc])
    in `section`, the params section (lite/model_parser/flatbuffers/io.cc,
    ParamDeserializer: per parameter uint32 total size and offset, then the record)."""
    if len(section) < 12:
        raise ValueError("params section missing")
    _version, meta, header_size = struct.unpack_from("<3H", section, 0)
    count, = struct.unpack_from("<H", section, 6 + meta)
    head = pos = 6 + meta + header_size
    out = []
    for i in range(count):
        if pos + 8 > len(section):
            raise ValueError(f"params section ends at parameter {i} of {count}")
        total, offset = struct.unpack_from("<II", section, pos)
        out.append((pos + 4 + offset, pos + 4 + total))
        pos += 4 + total
        if pos > len(section):
            raise ValueError(f"parameter {i} of {count} runs past the end of the file")
    if pos != len(section):
        raise ValueError(f"{len(section) - pos} unexpected bytes after the last parameter")
    return head, out
