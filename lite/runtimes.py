"""ARM Linux Paddle Lite runtimes, kept by version and architecture.

A `.nb` runs correctly only on the runtime of the opt version that wrote it
(a v2.13-rc `.nb` gives wrong outputs or aborts on v2.10-rc), so every
runtime is stored under its version: `<cache>/runtimes/<version>/<arch>/`
with the light-API library, its headers and the `lite_runner` built
against them.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import paths, toolchain
from .atomic import atomic_dir, atomic_path
from .download import download
from .errors import LiteError

LIB = "libpaddle_light_api_shared.so"
RUNNER = "lite_runner"

# Official prebuilt runtimes a user can fetch by URL, checked by sha256.
# v2.10-rc: the light-API libraries that Paddle Lite's own demo repository
# ships for the v2.0-era OCR `.nb` files (pinned commit).
_DEMO = "https://raw.githubusercontent.com/PaddlePaddle/Paddle-Lite-Demo/8853bac4faef0b75832ce8e3024405652df14956/libs"
OFFICIAL = {
    "v2.10-rc": {
        "armv8": {LIB: (f"{_DEMO}/libs/armv8/{LIB}", "5371efaec0e569a2ea9ce3aa13fae0307ddf2e5d44a3f9f7afae1a9f59bd7a35")},
        "armv7hf": {LIB: (f"{_DEMO}/libs/armv7hf/{LIB}", "e35a7fdb0aaef005176a22431005cfd204f7f1e0ed52c4949c393d934c46d467")},
        "include": {
            "paddle_api.h": (f"{_DEMO}/include/paddle_api.h", "c60052255e52c47bf6810dfdcf1c2c81f32b78da146b40966bb85c746f2d6855"),
            "paddle_place.h": (f"{_DEMO}/include/paddle_place.h", "8c2e9ea94df973cea98212793273d96155247d9171d5b36fd0d6f987ae2d6304"),
        },
    },
}
# v2.13-rc (matches the pip opt, paddlelite==2.13rc0): Paddle Lite's GitHub
# release archives. The release publishes no checksums, so the first
# download's sha256 is recorded in the cache and a later copy that differs is
# refused (lite/download.py); ARCHIVE_SHA256 pins a digest once one is known.
RELEASE = "https://github.com/PaddlePaddle/Paddle-Lite/releases/download"
ARCHIVES = {
    "v2.13-rc": {
        "armv8": "inference_lite_lib.armlinux.armv8.gcc.with_extra.with_cv",
        "armv7hf": "inference_lite_lib.armlinux.armv7hf.gcc.with_extra.with_cv",
        "android-armv8": "inference_lite_lib.android.armv8.clang.c++_shared.with_extra.with_cv",
        "android-armv7": "inference_lite_lib.android.armv7.clang.c++_shared.with_extra.with_cv",
    },
}
ARCHIVE_SHA256: dict[str, str] = {}  # archive URL -> sha256, once a digest is known from an official copy
BUILD_HINT = ("build it from Paddle Lite's source at the matching tag (see docs/runtimes.md) "
              "and register it with `lite runtime add DIR --version VERSION`")


@dataclass(frozen=True)
class Runtime:
    version: str
    arch: str
    dir: Path

    @property
    def lib(self) -> Path:
        return self.dir / LIB

    @property
    def include(self) -> Path:
        return self.dir / "include"

    @property
    def runner(self) -> Path:
        return self.dir / RUNNER


def store() -> Path:
    return paths.home() / "runtimes"


def list_runtimes() -> list[Runtime]:
    out = []
    root = store()
    if root.is_dir():
        for vdir in sorted(root.iterdir()):
            for adir in sorted(vdir.iterdir()) if vdir.is_dir() else []:
                if (adir / LIB).is_file():
                    out.append(Runtime(vdir.name, adir.name, adir))
    return out


def find(version: str, arch: str) -> Runtime:
    toolchain.check_arch(arch)
    rt = Runtime(version, arch, store() / version / arch)
    if rt.lib.is_file():
        return rt
    have = ", ".join(f"{r.version}/{r.arch}" for r in list_runtimes()) or "none"
    how = (f"`lite runtime fetch {version}` downloads the official one"
           if version in OFFICIAL or version in ARCHIVES else BUILD_HINT)
    raise LiteError(f"no Paddle Lite {version} runtime for {arch} (installed: {have}); "
                    f"a .nb must run on the runtime of the opt that wrote it: {how}")


def elf_machine(path: Path) -> int:
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise LiteError(f"{path}: not an ELF shared library; give the {LIB} from a Paddle Lite ARM Linux build")
    return int.from_bytes(head[18:20], "little")


_VERSION = re.compile(rb"\0(v\d+\.\d+(?:\.\d+)?(?:-rc\d*)?)\0")


def library_version(lib: Path) -> str | None:
    """The version string a Paddle Lite library carries (`git describe` at its
    build, e.g. v2.13-rc): what its runner reports and what a .nb's header names."""
    m = _VERSION.search(b"\0" + lib.read_bytes())
    return m.group(1).decode() if m else None


def _detect_version(src: Path) -> str | None:
    m = re.search(r"v?(\d+\.\d+(?:\.\d+)?(?:-rc)?)", src.resolve().name)
    if m:
        return "v" + m.group(1)
    libs = sorted(src.rglob(LIB))
    return library_version(libs[0]) if libs else None


def _arch_dirs(src: Path) -> dict[str, Path]:
    """Find `<arch>/.../libpaddle_light_api_shared.so` under `src`, by ELF machine."""
    found: dict[str, Path] = {}
    machines = {spec[4]: arch for arch, spec in toolchain.ARCHES.items()}
    for lib in sorted(src.rglob(LIB)):
        arch = machines.get(elf_machine(lib))
        if arch is None:
            raise LiteError(f"{lib}: ELF machine {elf_machine(lib)} is not ARM (armv8 or armv7hf); "
                            "give an ARM Linux build of Paddle Lite")
        found.setdefault(arch, lib)
    return found


def _include_for(lib: Path, src: Path) -> Path:
    for cand in (lib.parent / "include", lib.parent.parent / "include", src / "include"):
        if (cand / "paddle_api.h").is_file():
            return cand
    raise LiteError(f"{src}: no include/paddle_api.h beside {lib}; the runner is compiled against the runtime's own headers")


def add(src: str | os.PathLike, version: str | None = None) -> list[Runtime]:
    """Register every ARM library under `src` (a Paddle Lite ARM Linux lib dir)."""
    src = Path(src)
    if not src.is_dir():
        raise LiteError(f"{src}: not a directory; give the folder of a Paddle Lite ARM Linux build")
    version = version or _detect_version(src)
    if not version:
        raise LiteError(f"{src}: cannot tell the Paddle Lite version from the folder name; pass --version (e.g. v2.13-rc)")
    libs = _arch_dirs(src)
    if not libs:
        raise LiteError(f"{src}: no {LIB} found; give the folder of a Paddle Lite ARM Linux build")
    added = []
    android = "android" in str(src.resolve()).lower()  # inference_lite_lib.android.armv8: for adb targets
    for arch, lib in libs.items():
        arch = {"armv8": "android-armv8", "armv7hf": "android-armv7"}[arch] if android else arch
        inc = _include_for(lib, src)
        dest = store() / version / arch
        with atomic_dir(dest) as tmp:
            shutil.copy2(lib, tmp / LIB)
            shutil.copytree(inc, tmp / "include")
        added.append(Runtime(version, arch, dest))
    return added


def _download(url: str, sha256: str, dest: Path) -> None:
    download(url, dest, sha256, hint="check the network or use `lite runtime add DIR`")


def fetch_archive(version: str, arch: str = "armv8", base_url: str | None = None) -> Runtime:
    """An official release archive: downloaded into the cache (sha256 pinned or
    recorded on first use), only `cxx/include` and `cxx/lib` unpacked, its
    library checked to be `version`, then installed like `add`."""
    spec = ARCHIVES[version]
    if arch not in spec:
        raise LiteError(f"no official {version} archive for {arch}; known: {', '.join(spec)}")
    name = spec[arch] + ".tar.gz"
    base = base_url or os.environ.get("OCRSLIM_LITE_RELEASE_URL") or RELEASE  # a mirror laid out as the release
    url = f"{base.rstrip('/')}/{version}/{name}"
    archive = paths.home() / "downloads" / version / name
    download(url, archive, ARCHIVE_SHA256.get(url), hint="check the network, pass --base-url MIRROR, or "
             "`lite runtime add DIR` with an unpacked copy")
    dest = store() / version / arch
    try:
        with atomic_dir(dest) as tmp:
            from .download import extract_tar

            extract_tar(archive, tmp / "src", only=("cxx/include/", "cxx/lib/"))
            lib = tmp / "src" / "cxx" / "lib" / LIB
            if not lib.is_file() or not (tmp / "src" / "cxx" / "include" / "paddle_api.h").is_file():
                raise LiteError(f"{url}: the archive has no cxx/lib/{LIB} with cxx/include/paddle_api.h; "
                                "is it a Paddle Lite inference_lite_lib archive?")
            want = toolchain.ARCHES[toolchain.ANDROID_BASE.get(arch, arch)]
            if elf_machine(lib) != want[4]:
                raise LiteError(f"{url}: its library is for ELF machine {elf_machine(lib)}, not {arch}")
            got = library_version(lib)
            if got != version:
                raise LiteError(f"{url}: its library says Paddle Lite {got or 'of unknown version'}, not {version}; "
                                "a .nb runs only on the runtime of the opt that wrote it")
            shutil.move(str(lib), tmp / LIB)
            shutil.move(str(tmp / "src" / "cxx" / "include"), tmp / "include")
            shutil.rmtree(tmp / "src")
    finally:
        archive.unlink(missing_ok=True)  # the digest is kept in the ledger; the unpacked runtime is what is used
    return Runtime(version, arch, dest)


def fetch(version: str, arch: str = "armv8", base_url: str | None = None) -> Runtime:
    """Download an official runtime into the cache, checksums checked."""
    if version in ARCHIVES:
        return fetch_archive(version, arch, base_url)
    if version not in OFFICIAL:
        raise LiteError(f"no official download known for Paddle Lite {version}: {BUILD_HINT}")
    spec = OFFICIAL[version]
    if arch not in spec:
        raise LiteError(f"no official {version} download for {arch}; known: {', '.join(a for a in spec if a != 'include')}")
    dest = store() / version / arch

    def url_of(u: str) -> str:
        return u.replace(_DEMO, base_url.rstrip("/")) if base_url else u

    with atomic_dir(dest) as tmp:
        (tmp / "include").mkdir()
        for name, (url, sha) in spec[arch].items():
            _download(url_of(url), sha, tmp / name)
        for name, (url, sha) in spec["include"].items():
            _download(url_of(url), sha, tmp / "include" / name)
    return Runtime(version, arch, dest)


def _native_source(name: str) -> Path:
    return Path(str(resources.files("lite") / "native" / name))


def build_runner(rt: Runtime, force: bool = False) -> Path:
    """Cross-compile `lite_runner` against this runtime's headers (once)."""
    src = _native_source("lite_runner.cc")
    if rt.runner.is_file() and not force and rt.runner.stat().st_mtime >= src.stat().st_mtime:
        return rt.runner
    cxx = toolchain.cross_compiler(rt.arch)
    with atomic_path(rt.runner, mode=0o777) as tmp:
        cmd = [cxx, "-O2", "-std=c++11", f"-I{rt.include}", str(src), f"-L{rt.dir}",
               "-lpaddle_light_api_shared", "-Wl,-rpath,$ORIGIN", "-o", str(tmp)]
        if rt.arch.startswith("android-"):
            cmd[1:1] = ["-static-libstdc++", "-fPIE", "-pie"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or ["?"])[-1]
            raise LiteError(f"building the {rt.arch} runner for {rt.version} failed: {last}")
    return rt.runner


def plugin_path() -> Path:
    """Build (once) the qemu instruction-counting plugin for this host."""
    src = _native_source("insn_count.c")
    out = paths.home() / "plugins" / "insn_count.so"
    if out.is_file() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    cc = toolchain.host_cc()
    with atomic_path(out, suffix=".so") as tmp:
        p = subprocess.run([cc, "-shared", "-fPIC", "-O2", f"-I{src.parent}", str(src), "-o", str(tmp)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise LiteError(f"building the instruction-count plugin failed: {p.stderr.strip()[-300:]}")
    return out
