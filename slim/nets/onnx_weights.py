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


def _leaves(name: str, producer: dict, consts: dict, acc: list) -> list:
    """The weight constants a tensor is computed from (paddle2onnx builds an
    LSTM's W/R/B by slicing and concatenating Paddle's own weights)."""
    arr = consts.get(name)
    if arr is not None and arr.dtype == np.float32 and arr.ndim >= 1 and arr.size > 8:
        if name not in (a for a, _ in acc):
            acc.append((name, arr))
        return acc
    n = producer.get(name)
    if n is not None and n["op"] != "Constant":
        for i in n["in"]:
            _leaves(i, producer, consts, acc)
    return acc


def _lstm_params(node: dict, producer: dict, consts: dict) -> list:
    """A bidirectional LSTM's Paddle weights in nn.LSTM's order: per
    direction weight_ih, weight_hh, bias_ih, bias_hh. W and R come from
    [fw, bw]; B from [fw_ih, bw_ih, fw_hh, bw_hh] (paddle2onnx's order)."""
    w, r, b = (_leaves(node["in"][i], producer, consts, []) if i < len(node["in"]) else [] for i in (1, 2, 3))
    if len(w) != 2 or len(r) != 2 or len(b) != 4:
        raise LiteError(f"LSTM {node['out'][:1]}: expected Paddle's bidirectional weights "
                        f"(2 W, 2 R, 4 B), found {len(w)}, {len(r)}, {len(b)}")
    return [w[0], r[0], b[0], b[2], w[1], r[1], b[1], b[3]]


def _read_graph(path: Path) -> tuple[dict, list]:
    """(constants by name, nodes in order) of an ONNX file."""
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
                        attr = None
                        for h, _, x in _entries(w):
                            if h == 5:
                                node["t"] = _tensor(x)[1]
                            elif h == 1:
                                attr = x.decode()
                            elif h == 2 and attr:
                                node.setdefault("f", {})[attr] = struct.unpack("<f", x)[0]
                nodes.append(node)
    except (StopIteration, ValueError, IndexError, UnicodeDecodeError) as e:
        raise LiteError(f"{path}: not a readable ONNX model ({e or 'no graph'}); re-export it with paddle2onnx") from None
    for n in nodes:
        if n["op"] == "Constant" and n["t"] is not None:
            consts[n["out"][0]] = n["t"]
    return consts, nodes


def float_attrs(path: str | Path, op: str) -> list[dict]:
    """The float attributes of every `op` node, in graph order."""
    return [n.get("f", {}) for n in _read_graph(Path(path))[1] if n["op"] == op]


def onnx_params(path: str | Path) -> list[tuple[str, np.ndarray]]:
    """Float parameters in the order the graph's Conv/BN/MatMul/Add/LSTM nodes use them."""
    path = Path(path)
    consts, nodes = _read_graph(path)
    producer = {o: n for n in nodes for o in n["out"]}
    out, seen = [], set()
    for n in nodes:
        if n["op"] == "LSTM":
            for name, arr in _lstm_params(n, producer, consts):
                if name not in seen:
                    seen.add(name)
                    out.append((name, arr))
            continue
        for i in PARAM_INPUTS.get(n["op"], ()):
            if i < len(n["in"]):
                name = n["in"][i]
                via = producer.get(name)
                if n["op"] == "Add" and name not in consts and via is not None and via["op"] in ("Reshape", "Unsqueeze"):
                    name = via["in"][0]  # a conv bias reshaped to [1, C, 1, 1] before its add (SE blocks)
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
