"""Host tools the emulated ARM targets need, and the Debian package for each."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import LiteError

ARCHES = {
    # arch: (cross C++ compiler, its Debian package, qemu binary, sysroot, ELF e_machine)
    "armv8": ("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu", "qemu-aarch64", "/usr/aarch64-linux-gnu", 183),
    "armv7hf": ("arm-linux-gnueabihf-g++", "g++-arm-linux-gnueabihf", "qemu-arm", "/usr/arm-linux-gnueabihf", 40),
}
QEMU_PACKAGE = "qemu-user"
# Android (adb targets): the runner is built with the NDK's clang for API 23
ANDROID = {"android-armv8": "aarch64-linux-android23-clang++", "android-armv7": "armv7a-linux-androideabi23-clang++"}
ANDROID_BASE = {"android-armv8": "armv8", "android-armv7": "armv7hf"}  # the instruction set of each


def check_arch(arch: str) -> None:
    if arch not in ARCHES and arch not in ANDROID:
        raise LiteError(f"unknown ARM architecture {arch!r}; use one of {', '.join([*ARCHES, *ANDROID])}")


def ndk_compiler(arch: str) -> str:
    """The NDK's clang++ for `arch`, from ANDROID_NDK_HOME (or ANDROID_NDK_ROOT)."""
    ndk = os.environ.get("ANDROID_NDK_HOME") or os.environ.get("ANDROID_NDK_ROOT")
    if not ndk:
        raise LiteError(f"the {arch} runner is built with the Android NDK: set ANDROID_NDK_HOME to an NDK (r21+) "
                        "folder")
    exe = Path(ndk) / "toolchains" / "llvm" / "prebuilt" / "linux-x86_64" / "bin" / ANDROID[arch]
    if not exe.is_file():
        raise LiteError(f"{exe}: not found; ANDROID_NDK_HOME must point to an NDK r21+ for Linux x86_64")
    return str(exe)


def cross_compiler(arch: str) -> str:
    check_arch(arch)
    if arch in ANDROID:
        return ndk_compiler(arch)
    exe, pkg = ARCHES[arch][0], ARCHES[arch][1]
    path = shutil.which(exe)
    if not path:
        raise LiteError(f"{exe} not found: the {arch} runner needs it; install it with `apt-get install {pkg}`")
    return path


def host_cc() -> str:
    for exe in ("gcc", "cc"):
        path = shutil.which(exe)
        if path:
            return path
    raise LiteError("no host C compiler (gcc) for the instruction-count plugin; `apt-get install gcc`")


def qemu(arch: str) -> tuple[str, str]:
    """(qemu binary, sysroot) for `arch`."""
    check_arch(arch)
    exe, sysroot = ARCHES[arch][2], ARCHES[arch][3]
    path = shutil.which(exe)
    if not path:
        raise LiteError(f"{exe} not found: emulated ARM targets need it; install it with `apt-get install {QEMU_PACKAGE}`")
    return path, sysroot
