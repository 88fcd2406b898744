"""The target interface: load a `.nb`, feed named float inputs, get outputs, time runs."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import LiteError
from ..nbfile import NbInfo, read_nb
from ..protocol import RunnerProcess

POWER_MODES = ["LITE_POWER_HIGH", "LITE_POWER_LOW", "LITE_POWER_FULL", "LITE_POWER_NO_BIND",
               "LITE_POWER_RAND_HIGH", "LITE_POWER_RAND_LOW"]


def power_mode_index(mode: str | int) -> int:
    if isinstance(mode, int):
        return mode
    key = mode.upper()
    if not key.startswith("LITE_POWER_"):
        key = "LITE_POWER_" + key
    if key not in POWER_MODES:
        raise LiteError(f"unknown power mode {mode!r}; use one of {', '.join(m[11:].lower() for m in POWER_MODES)}")
    return POWER_MODES.index(key)


@dataclass
class BenchResult:
    times_ms: list[float]
    instructions: list[int] | None = None  # per run, on targets that count them
    extra: dict = field(default_factory=dict)


class Session:
    """One loaded model on one target."""

    def __init__(self, proc: RunnerProcess, info: NbInfo, target: "Target"):
        self.proc, self.info, self.target = proc, info, target

    @property
    def input_names(self) -> list[str]:
        return self.proc.input_names

    @property
    def output_names(self) -> list[str]:
        return self.proc.output_names

    def run(self, inputs: dict[str, np.ndarray] | list[np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        arrays = self._order(inputs)
        try:
            outs = self._run(arrays)
        except LiteError as e:
            raise shape_error(self.info, self.input_names, arrays, e, self.proc.label) from None
        return dict(zip(self.output_names, outs))

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return self.proc.run(arrays)

    def _order(self, inputs) -> list[np.ndarray]:
        names = self.input_names
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if isinstance(inputs, dict):
            missing = [n for n in names if n not in inputs]
            if missing:
                raise LiteError(f"{self.info.path}: missing input {missing[0]!r}; the model takes {', '.join(names)}")
            inputs = [inputs[n] for n in names]
        if len(inputs) != len(names):
            raise LiteError(f"{self.info.path}: the model takes {len(names)} inputs ({', '.join(names)}), got {len(inputs)}")
        arrays = [np.asarray(a, dtype=np.float32) for a in inputs]
        for name, arr in zip(names, arrays):
            check_layout(self.info, name, arr.shape)
        return arrays

    def bench(self, warmup: int = 1, repeats: int = 5) -> BenchResult:
        return BenchResult(self.proc.bench(warmup, repeats))

    def last_run_instructions(self) -> int | None:
        """Instructions of the latest `run`, where the target counts them."""
        return None

    def close(self) -> None:
        self.proc.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _dims(shape) -> str:
    return "x".join("?" if d < 0 else str(d) for d in shape) or "()"


def check_layout(info: NbInfo, name: str, shape: tuple) -> None:
    """What the weights fix, checked before a run: the rank and, for an image
    input, the channel count (the v2.10-rc runtime runs a 1-channel input
    through a 3-channel conv without a word and returns garbage). Batch,
    height and width are free: the declared ones are only the export's."""
    want = info.input_shapes.get(name) or []
    spec = _dims(want)
    if len(shape) == 0 or any(s <= 0 for s in shape):
        raise LiteError(f"{info.path}: input {name!r} has shape {_dims(shape)}; every dimension must be at least 1")
    if want and len(want) != len(shape):
        raise LiteError(f"{info.path}: input {name!r} has shape {_dims(shape)} but the model takes a rank-"
                        f"{len(want)} tensor ({spec}, ? = any size)")
    if len(want) == 4 and want[1] > 0 and shape[1] != want[1]:
        raise LiteError(f"{info.path}: input {name!r} has {shape[1]} channels (shape {_dims(shape)}) but the "
                        f"model's weights take {want[1]} ({spec}; batch, height and width may differ)")


def declared_mismatch(info: NbInfo, name: str, shape: tuple) -> str | None:
    """The declared shape of input `name` when `shape` differs from it, else
    None. A declared shape is the export's, a hint: Paddle Lite runs other
    shapes (PaddleOCR's own demo feeds the v2.0 cls .nb, declared ?x3x32x100,
    at 3x48x192), so only the runtime decides."""
    want = info.input_shapes.get(name)
    if not want:
        return None
    ok = len(want) == len(shape) and all(w < 0 or w == s for w, s in zip(want, shape))
    return None if ok else _dims(want)


def shape_error(info: NbInfo, names: list[str], arrays: list[np.ndarray], err: LiteError,
                label: str = "") -> LiteError:
    """A runtime failure, in one line; where an input's shape differs from the
    declared one, the line says that the runtime rejected that shape."""
    for name, arr in zip(names, arrays):
        want = declared_mismatch(info, name, arr.shape)
        if want:
            reason = str(err)[len(label) + 2:] if label and str(err).startswith(label + ": ") else str(err)
            return LiteError(f"{label or info.path}: the runtime rejected input {name!r} of shape "
                             f"{_dims(arr.shape)} (the model declares {want}, ? = any size): {reason}")
    return err


class Target(ABC):
    name: str
    emulated = False  # an ARM runtime under qemu here: takes `cpu=`, counts instructions, runs sessions side by side

    @abstractmethod
    def check(self, info: NbInfo) -> None:
        """Raise LiteError when this target cannot run this `.nb` correctly."""

    @abstractmethod
    def open(self, nb_path: str, info: NbInfo) -> Session: ...

    def describe(self) -> dict:
        return {"target": self.name}

    def load(self, nb_path: str) -> Session:
        info = read_nb(nb_path)
        self.check(info)
        return self.open(nb_path, info)


def target_for(info: NbInfo) -> str:
    """The local target a `.nb` runs on: an ARM .nb on arm64-emu, an x86 one on x86."""
    return "arm64-emu" if "arm" in info.targets else "x86"


_REGISTRY: dict[str, Callable[..., Target]] = {}
_EMULATED: set[str] = set()


def register(*names: str, emulated: bool = False):
    def deco(factory):
        for n in names:
            _REGISTRY[n] = factory
            if emulated:
                _EMULATED.add(n)
        return factory
    return deco


def is_emulated(name: str) -> bool:
    """Whether the target of this name is emulated here (Target.emulated, known before one is made)."""
    return name in _EMULATED


def emulation_options(name: str, **options) -> dict:
    """`options` (cpu, count) for an emulated target, {} for any other: only emulation takes them."""
    return dict(options) if is_emulated(name) else {}


def target_names() -> list[str]:
    return sorted(_REGISTRY)


def get_target(name: str, **options) -> Target:
    if name.startswith("ssh://") or name == "adb" or name.startswith("adb:"):
        return _REGISTRY[name[:3]](name, **options)
    if name not in _REGISTRY:
        from ..boards import load_boards

        boards = load_boards()
        if name in boards:  # a board named in boards.yaml: its target and settings
            b = boards[name]
            return get_target(b["target"], **{**{k: v for k, v in b.items() if k != "target"}, **options})
        raise LiteError(f"unknown target {name!r}; use one of {', '.join(target_names())}, ssh://[user@]host[:port], "
                        "adb[:SERIAL]" + (f", or a board: {', '.join(boards)}" if boards else
                                          ", or a board named in boards.yaml (see `lite devices`)"))
    return _REGISTRY[name](name, **options)
