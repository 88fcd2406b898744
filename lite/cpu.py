"""Emulated ARM CPUs: the qemu CPU model plus the /proc/cpuinfo Paddle Lite reads.

Paddle Lite picks its ARM kernels from the "CPU part" lines of /proc/cpuinfo.
Under qemu-user that file is the x86 host's, so generic kernels run. Showing
the process a Cortex-A53 or Cortex-A76 cpuinfo (a bind mount inside a private
mount namespace) makes it take that core's paths, the int8 dot-product
kernels included, so every instruction count names the CPU it was taken on.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from . import paths
from .errors import LiteError


@dataclass(frozen=True)
class EmuCpu:
    name: str
    qemu_cpu: dict  # arch -> qemu -cpu model
    part: str | None  # "CPU part" (None: leave the host's cpuinfo, generic kernels)
    features: str = ""


CPUS = {
    "generic": EmuCpu("generic", {"armv8": "max", "armv7hf": "max"}, None),
    "cortex-a53": EmuCpu("cortex-a53", {"armv8": "cortex-a53", "armv7hf": "cortex-a15"}, "0xd03",
                         "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"),
    # Paddle Lite 2.13 maps "CPU part" 0xd40 to its A76 (dot-product) kernels; 0xd0b is not recognised.
    "cortex-a76": EmuCpu("cortex-a76", {"armv8": "cortex-a76", "armv7hf": "max"}, "0xd40",
                         "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
                         "asimdrdm lrcpc dcpop asimddp"),
}


def get_cpu(name: str) -> EmuCpu:
    if name not in CPUS:
        raise LiteError(f"unknown emulated CPU {name!r}; use one of {', '.join(CPUS)}")
    return CPUS[name]


def cpuinfo_text(cpu: EmuCpu, ncores: int | None = None) -> str:
    # Paddle Lite indexes cpuinfo by the core count it reads from /sys, so the
    # fake file lists exactly as many processors as this host has.
    ncores = ncores or os.cpu_count() or 1
    blocks = []
    for i in range(ncores):
        blocks.append(
            f"processor\t: {i}\nBogoMIPS\t: 38.40\nFeatures\t: {cpu.features}\n"
            f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x{'4' if cpu.part == '0xd0b' else '0'}\n"
            f"CPU part\t: {cpu.part}\nCPU revision\t: 1\n")
    return "\n".join(blocks) + "\n"


def cpuinfo_file(cpu: EmuCpu) -> str:
    path = paths.home() / "cpuinfo" / f"{cpu.name}.txt"
    text = cpuinfo_text(cpu)
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(path)


@functools.lru_cache(maxsize=1)
def private_mounts_allowed() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def wrap(cmd: list[str], cpu: EmuCpu) -> tuple[list[str], str]:
    """Wrap `cmd` so it sees `cpu`'s cpuinfo. Returns (command, cpu actually shown)."""
    if cpu.part is None:
        return cmd, "generic"
    if not private_mounts_allowed():
        print(f"notice: no private mount namespace here (unshare -m failed); "
              f"{cpu.name} falls back to generic kernels", file=sys.stderr)
        return cmd, "generic"
    script = 'mount --bind "$0" /proc/cpuinfo && exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, cpuinfo_file(cpu)] + cmd, cpu.name
