"""Inputs for run, bench and parity: a user's .npy files, or seeded random data."""
from __future__ import annotations

import os

import numpy as np

from .errors import LiteError
from .nbfile import NbInfo


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise LiteError(f"bad --shape {text!r}; write it like 1,3,48,192")
    return dims


def load_npy(path: str | os.PathLike) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise LiteError(f"{path}: no such input file; save one with numpy.save") from None
    except (ValueError, OSError, EOFError) as e:
        raise LiteError(f"{path}: not a readable .npy array ({e}); save inputs with numpy.save") from None
    if arr.dtype.kind not in "fiu":
        raise LiteError(f"{path}: dtype {arr.dtype} is not numeric; inputs are float32 tensors")
    return arr.astype(np.float32)


def default_inputs(info: NbInfo, shapes: dict[str, tuple] | None = None, samples: int = 1,
                   seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Seeded uniform [-1, 1] inputs of the declared shapes (batch 1 where free)."""
    shapes = dict(shapes or {})
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(samples):
        feed = {}
        for name in info.inputs:
            shape = shapes.get(name)
            if shape is None:
                declared = info.input_shapes.get(name) or []
                if not declared or any(d < 0 for d in declared[1:]):
                    spec = "x".join("?" if d < 0 else str(d) for d in declared) or "unknown"
                    raise LiteError(f"{info.path}: input {name!r} has free dims ({spec}); give --shape "
                                    "(e.g. --shape 1,3,640,640) or --input x.npy")
                shape = tuple([1 if declared[0] < 0 else declared[0]] + declared[1:])
            feed[name] = rng.uniform(-1, 1, size=shape).astype(np.float32)
        out.append(feed)
    return out
