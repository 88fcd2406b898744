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
        outs = self.proc.run(arrays)
        return dict(zip(self.output_names, outs))

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
        for name, arr in zip(names, inputs):
            check_shape(self.info, name, np.asarray(arr).shape)
        return [np.asarray(a, dtype=np.float32) for a in inputs]

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


def check_shape(info: NbInfo, name: str, shape: tuple) -> None:
    want = info.input_shapes.get(name)
    if not want:
        return
    ok = len(want) == len(shape) and all(w < 0 or w == s for w, s in zip(want, shape))
    if not ok or any(s <= 0 for s in shape):
        spec = "x".join("?" if w < 0 else str(w) for w in want)
        raise LiteError(f"{info.path}: input {name!r} has shape {'x'.join(map(str, shape))} "
                        f"but the model expects {spec} (? = any size)")


class Target(ABC):
    name: str

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


_REGISTRY: dict[str, Callable[..., Target]] = {}


def register(*names: str):
    def deco(factory):
        for n in names:
            _REGISTRY[n] = factory
        return factory
    return deco


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
