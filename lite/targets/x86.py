"""`x86`: the pip `paddlelite` runtime, in a worker process."""
from __future__ import annotations

import os
import sys

from ..errors import LiteError
from ..nbfile import NbInfo
from ..protocol import RunnerProcess
from .base import Session, Target, power_mode_index, register


@register("x86")
class X86Target(Target):
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

    def open(self, nb_path: str, info: NbInfo) -> Session:
        cmd = [sys.executable, "-m", "lite.targets._x86_worker", nb_path, str(self.threads), str(self.power)]
        env = dict(os.environ, OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        return Session(RunnerProcess(cmd, f"{nb_path} on x86", env=env), info, self)

    def describe(self) -> dict:
        return {"target": self.name, "threads": self.threads}
