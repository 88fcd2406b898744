"""`arm64-emu` and `armv7-emu`: the project's runner on a Paddle Lite ARM
Linux runtime, under qemu-user, with an optional instruction counter."""
from __future__ import annotations

import os
import re
import shutil
import tempfile

from .. import cpu as cpumod
from .. import runtimes, toolchain
from ..errors import LiteError
from ..nbfile import NbInfo
from ..protocol import RunnerProcess
from .base import BenchResult, Session, Target, power_mode_index, register

ARCH_OF = {"arm64-emu": "armv8", "armv7-emu": "armv7hf"}


@register("arm64-emu", "armv7-emu", emulated=True)
class EmuTarget(Target):
    emulated = True

    def __init__(self, name: str = "arm64-emu", threads: int = 1, power_mode: str | int = "no_bind",
                 cpu: str = "generic", count: bool = False, runtime_version: str | None = None, **_):
        self.name = name
        self.arch = ARCH_OF[name]
        self.threads = int(threads)
        self.power = power_mode_index(power_mode)
        self.cpu = cpumod.get_cpu(cpu)
        self.count = count
        self.runtime_version = runtime_version
        self.cpu_shown = None

    def check(self, info: NbInfo) -> None:
        if "x86" in info.targets:
            raise LiteError(f"{info.path}: an x86 .nb does not run on ARM; convert with `lite opt MODEL --target arm`")
        self.runtime_for(info)

    def runtime_for(self, info: NbInfo) -> runtimes.Runtime:
        return runtimes.find(self.runtime_version or info.opt_version, self.arch)

    def open(self, nb_path: str, info: NbInfo) -> "EmuSession":
        rt = self.runtime_for(info)
        runner = runtimes.build_runner(rt)
        qemu, sysroot = toolchain.qemu(self.arch)
        cmd = [qemu, "-L", sysroot, "-cpu", self.cpu.qemu_cpu[self.arch]]
        counts = None
        if self.count:
            fd, counts = tempfile.mkstemp(prefix="insn.", suffix=".txt")
            os.close(fd)
            cmd += ["-plugin", f"{runtimes.plugin_path()},out={counts}"]
        stage = _fixed_layout(runner, nb_path)
        cmd += [f"{stage}/lite_runner", f"{stage}/model.nb", str(self.threads), str(self.power)]
        cmd, self.cpu_shown = cpumod.wrap(cmd, self.cpu)
        label = f"{nb_path} on {self.name} ({rt.version} runtime)"
        try:
            proc = RunnerProcess(cmd, label, env=dict(GUEST_ENV))
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        return EmuSession(proc, info, self, counts, rt, stage)

    def describe(self) -> dict:
        return {"target": self.name, "threads": self.threads, "cpu": self.cpu_shown or self.cpu.name}


# The guest's argv and environment sit on its initial stack, so their length
# shifts where the runtime's buffers land, and with it a count by up to
# ~2,000 instructions (0.02 % of the int8 cls model; the same .nb read 8,455,811
# and 8,457,631 from two output folders). Every runner therefore sees one
# environment, and its files under one path length.
GUEST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def _fixed_layout(runner, nb_path: str) -> str:
    """A fresh folder of fixed-length name holding links to the runner, its
    runtime library (found through the runner's $ORIGIN) and the model."""
    stage = tempfile.mkdtemp(prefix="ocrslim-emu.", dir="/tmp" if os.access("/tmp", os.W_OK) else None)
    lib_dir = os.path.dirname(runner)
    for f in os.listdir(lib_dir):
        if f.endswith(".so"):
            os.symlink(os.path.join(lib_dir, f), os.path.join(stage, f))
    os.symlink(runner, os.path.join(stage, "lite_runner"))
    os.symlink(os.path.abspath(nb_path), os.path.join(stage, "model.nb"))
    return stage


class EmuSession(Session):
    def __init__(self, proc, info, target, counts_path, runtime, stage: str | None = None):
        super().__init__(proc, info, target)
        self.counts_path = counts_path
        self.runtime = runtime
        self.stage = stage

    def kernel_arch(self) -> str:
        """The CPU architecture Paddle Lite itself detected (from its log)."""
        m = re.findall(r"CPU ARCH: (\S+)", self.proc.stderr_text())
        return m[0] if m else "unknown"

    def last_run_instructions(self) -> int | None:
        """Guest instructions of the latest `run` (counting sessions only)."""
        if not self.counts_path:
            return None
        marks = _read_marks(self.counts_path)
        return int(marks[-1] - marks[-2]) if len(marks) >= 2 else None

    def bench(self, warmup: int = 1, repeats: int = 5) -> BenchResult:
        times = self.proc.bench(warmup, repeats)
        instr = None
        if self.counts_path:
            marks = _read_marks(self.counts_path)
            last = marks[-2 * repeats:]
            if len(last) == 2 * repeats:
                instr = [int(last[2 * i + 1] - last[2 * i]) for i in range(repeats)]
        return BenchResult(times, instr, {"kernel_arch": self.kernel_arch(), "runtime": self.runtime.version})

    def close(self) -> None:
        super().close()
        if self.counts_path and os.path.exists(self.counts_path):
            os.unlink(self.counts_path)
        if self.stage:
            shutil.rmtree(self.stage, ignore_errors=True)


def _read_marks(path: str) -> list[int]:
    with open(path) as f:
        return [int(line.split()[1]) for line in f if line.startswith("mark ")]
