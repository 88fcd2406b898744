"""Weights of an ONNX export (paddle2onnx writes them as Constant nodes or
initializers), read with a small protobuf wire walk: no onnx dependency."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from lite.errors import LiteError
from lite.protowire import entries
from lite.protowire import varint as _varint

_DTYPES = {1: np.float32, 6: np.int32, 7: np.int64, 11: np.float64}
# Inputs that carry parameters, per op, in the order Paddle's layers hold them.
PARAM_INPUTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "BatchNormalization": (1, 2, 3, 4), "MatMul": (1,),
                "Gemm": (1, 2), "Add": (0, 1)}


def _entries(buf: bytes):
    for field, wire, value, _ in entries(buf):
        yield field, wire, value


def _tensor(buf: bytes) -> tuple[str, np.ndarray]:
    dims, dtype, name, raw, floats = [], 1, "", None, b""
    for f, wire, v in _entries(buf):
        if f == 1:
            if wire == 2:  # packed
                j = 0
                while j < len(v):
                    d, j = _varint(v, j)
                    dims.append(d)
            else:
                dims.append(v)
        elif f == 2:
            dtype = v
        elif f == 4:
            floats += v if wire == 2 else v
        elif f == 8:
            name = v.decode()
        elif f == 9:
            raw = v
    if dtype not in _DTYPES or dtype != 1 and raw is None:  # only float weights matter here
        return name, None
    data = raw if raw is not None else floats
    arr = np.frombuffer(data, dtype=_DTYPES[dtype]) if raw is not None else \
        np.array(struct.unpack(f"<{len(floats) // 4}f", floats), np.float32)
    return name, arr.reshape(dims) if dims else arr.reshape(())


def onnx_params(path: str | Path) -> list[tuple[str, np.ndarray]]:
    """Float parameters in the order the graph's Conv/BN/MatMul/Add nodes use them."""
    path = Path(path)
    try:
        graph = next(v for f, _, v in _entries(path.read_bytes()) if f == 7)
        consts: dict[str, np.ndarray] = {}
        nodes = []
        for f, _, v in _entries(graph):
            if f == 5:
                name, arr = _tensor(v)
                consts[name] = arr
            elif f == 1:
                node = {"in": [], "out": [], "op": "", "t": None}
                for g, _, w in _entries(v):
                    if g == 1:
                        node["in"].append(w.decode())
                    elif g == 2:
                        node["out"].append(w.decode())
                    elif g == 4:
                        node["op"] = w.decode()
                    elif g == 5:  # AttributeProto; Constant keeps its tensor in `t` (5)
                        for h, _, x in _entries(w):
                            if h == 5:
                                node["t"] = _tensor(x)[1]
                nodes.append(node)
    except (StopIteration, ValueError, IndexError, UnicodeDecodeError) as e:
        raise LiteError(f"{path}: not a readable ONNX model ({e or 'no graph'}); re-export it with paddle2onnx") from None
    for n in nodes:
        if n["op"] == "Constant" and n["t"] is not None:
            consts[n["out"][0]] = n["t"]
    out, seen = [], set()
    for n in nodes:
        for i in PARAM_INPUTS.get(n["op"], ()):
            if i < len(n["in"]):
                name = n["in"][i]
                arr = consts.get(name)
                if arr is None or arr.dtype != np.float32 or arr.ndim < 1 or name in seen:
                    continue
                if n["op"] == "Add" and arr.size == 1 and arr.ndim == 1:  # a literal such as DB's `1 + exp(..)`
                    continue
                seen.add(name)
                out.append((name, arr))
    if not out:
        raise LiteError(f"{path}: no weights found in the ONNX graph")
    return out
