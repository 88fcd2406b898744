"""`x86`: the pip `paddlelite` runtime, in a worker process."""
from __future__ import annotations

import os
import sys

import numpy as np

from ..errors import LiteError
from ..nbfile import NbInfo
from ..protocol import RunnerProcess
from .base import Session, Target, power_mode_index, register


@register("x86")
class X86Target(Target):
    emulated = False

    def __init__(self, name: str = "x86", threads: int = 1, power_mode: str | int = "no_bind", **_):
        self.name, self.threads, self.power = name, int(threads), power_mode_index(power_mode)

    def check(self, info: NbInfo) -> None:
        if "arm" in info.targets:
            raise LiteError(f"{info.path}: an ARM .nb does not run on the x86 runtime; "
                            "use --target arm64-emu, or convert with `lite opt MODEL --target x86`")
        if info.is_quantized:
            # Measured: the 2.13rc0 x86 runtime returns 1e36/NaN for int8 graphs.
            raise LiteError(f"{info.path}: a quantized (int8) .nb gives wrong outputs on the x86 runtime "
                            "of paddlelite 2.13rc0; measure it on an ARM target (--target arm64-emu)")

    def worker(self, nb_path: str) -> RunnerProcess:
        cmd = [sys.executable, "-m", "lite.targets._x86_worker", nb_path, str(self.threads), str(self.power)]
        env = dict(os.environ, OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        return RunnerProcess(cmd, f"{nb_path} on x86", env=env)

    def open(self, nb_path: str, info: NbInfo) -> "X86Session":
        return X86Session(self.worker(nb_path), info, self, nb_path)

    def describe(self) -> dict:
        return {"target": self.name, "threads": self.threads}


class X86Session(Session):
    """One worker per input shape, for every caller: paddlelite 2.13rc0's x86
    runtime corrupts its heap when one predictor sees a second input shape
    (wrong outputs on PP-OCRv4 rec widths, then "free(): invalid next size" on
    det images of mixed sizes), so a new shape gets a fresh worker. Callers
    that group their inputs by shape pay one start-up per shape."""

    def __init__(self, proc: RunnerProcess, info: NbInfo, target: X86Target, nb_path: str):
        super().__init__(proc, info, target)
        self.nb_path = nb_path
        self.shapes: tuple | None = None
        self.workers_started = 1

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        shapes = tuple(a.shape for a in arrays)
        if self.shapes is not None and shapes != self.shapes:
            self.proc.close()
            self.proc = self.target.worker(self.nb_path)
            self.workers_started += 1
        self.shapes = shapes
        return self.proc.run(arrays)
