"""Runtime store: add, checksummed fetch, wrong architecture, missing toolchain."""
import os
import shutil

import pytest

from lite import runtimes
from lite.errors import LiteError

from .conftest import RUNTIMES, lite_cli, need


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("OCRSLIM_HOME", str(home))
    return home


def test_fetch_checks_sha256(fresh_home, tmp_path):
    """The official-download path, served from a local mirror of the same files."""
    src = need(RUNTIMES / "paddlelite-v2.10-rc-armlinux")
    mirror = tmp_path / "mirror"
    (mirror / "libs" / "armv8").mkdir(parents=True)
    shutil.copy(src / "armv8" / runtimes.LIB, mirror / "libs" / "armv8" / runtimes.LIB)
    shutil.copytree(src / "include", mirror / "include")
    rt = runtimes.fetch("v2.10-rc", "armv8", base_url=mirror.as_uri())
    assert rt.lib.is_file() and (rt.include / "paddle_api.h").is_file()

    # a tampered library is rejected and nothing is left in the store
    (mirror / "libs" / "armv8" / runtimes.LIB).write_bytes(b"\x7fELF tampered")
    shutil.rmtree(rt.dir)
    with pytest.raises(LiteError, match="sha256 .* does not match"):
        runtimes.fetch("v2.10-rc", "armv8", base_url=mirror.as_uri())
    assert not rt.dir.exists()
    assert not [p for p in rt.dir.parent.iterdir() if p.name.startswith(".")]


def test_wrong_architecture_library_is_refused(fresh_home, tmp_path):
    import paddlelite

    x86_lib = os.path.join(os.path.dirname(paddlelite.__file__), "lite.so")  # an x86-64 ELF
    bad = tmp_path / "paddlelite-v2.13-rc-armlinux" / "armv8"
    bad.mkdir(parents=True)
    shutil.copy(x86_lib, bad / runtimes.LIB)
    p = lite_cli("runtime", "add", str(bad.parent), env={**os.environ, "OCRSLIM_HOME": str(fresh_home)})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "is not ARM (armv8 or armv7hf)" in p.stderr


def test_missing_cross_compiler_names_debian_package(fresh_home, cls_arm_nb, tmp_path):
    src = need(RUNTIMES / "paddlelite-v2.13-rc-armlinux")
    runtimes.add(src)  # registered, runner not yet built
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("qemu-aarch64", "unshare", "sh", "gcc"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, bin_dir / tool)
    env = {**os.environ, "OCRSLIM_HOME": str(fresh_home), "PATH": str(bin_dir)}
    p = lite_cli("run", str(cls_arm_nb), "--target", "arm64-emu", "--shape", "1,3,48,192", env=env)
    assert p.returncode == 2
    assert "apt-get install g++-aarch64-linux-gnu" in p.stderr


def test_missing_qemu_names_debian_package(cls_arm_nb, tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # runners already built; no qemu on PATH
    p = lite_cli("run", str(cls_arm_nb), "--target", "arm64-emu", "--shape", "1,3,48,192", env=env)
    assert p.returncode == 2
    assert "apt-get install qemu-user" in p.stderr


def test_runtime_list_cli():
    for v in ("2.13", "2.10"):  # registered from ../shared by the lite_home fixture
        if not any(RUNTIMES.glob(f"paddlelite-v{v}*-armlinux")):
            pytest.skip(f"no v{v} ARM runtime under {RUNTIMES}")
    p = lite_cli("runtime", "list")
    assert p.returncode == 0
    assert "v2.13-rc" in p.stdout and "v2.10-rc" in p.stdout


def _release_archive(root, arch: str, top: str, extra: dict | None = None, lib_version: str = "v2.13-rc"):
    """An archive laid out as Paddle Lite's v2.13-rc release (TOP/cxx/{include,lib},
    plus demo files the runtime does not need), built from the shared runtime."""
    import tarfile

    src = need(RUNTIMES / f"paddlelite-{lib_version}-armlinux" / arch)
    if not (src / "include").is_dir():
        src = src.parent  # the v2.10-rc folder keeps one include/ for both architectures
    out = root / "v2.13-rc" / f"{top}.tar.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as t:
        t.add(RUNTIMES / f"paddlelite-{lib_version}-armlinux" / arch / runtimes.LIB,
              arcname=f"{top}/cxx/lib/{runtimes.LIB}")
        t.add(src / "include", arcname=f"{top}/cxx/include")
        t.add(RUNTIMES / f"paddlelite-{lib_version}-armlinux" / "LICENSE", arcname=f"{top}/demo/cxx/README.md")
        for name, path in (extra or {}).items():
            t.add(path, arcname=name)
    return out


def test_fetch_release_archive_records_sha256_and_refuses_a_changed_copy(fresh_home, server, cls_arm_nb):
    """`lite runtime fetch v2.13-rc`: the official archive (from a local mirror
    of the release): only cxx/include and cxx/lib unpacked, the runner built and
    the pip opt's .nb run on it; the first download's sha256 is recorded and a
    later, different copy is refused with nothing changed in the store."""
    import numpy as np

    from lite.download import recorded_sha256
    from lite.targets import get_target

    root, base = server
    top = runtimes.ARCHIVES["v2.13-rc"]["armv8"]
    archive = _release_archive(root, "armv8", top)
    env = {**os.environ, "OCRSLIM_HOME": str(fresh_home)}
    p = lite_cli("runtime", "fetch", "v2.13-rc", "--arch", "armv8", "--base-url", base, env=env)
    assert p.returncode == 0, p.stderr
    rt = runtimes.find("v2.13-rc", "armv8")
    assert sorted(x.name for x in rt.dir.iterdir()) == ["include", runtimes.LIB, runtimes.RUNNER]
    assert runtimes.library_version(rt.lib) == "v2.13-rc"
    url = f"{base}/v2.13-rc/{top}.tar.gz"
    from lite.download import sha256_file

    assert recorded_sha256(url) == sha256_file(archive)
    x = np.random.RandomState(0).uniform(-1, 1, (1, 3, 48, 192)).astype(np.float32)
    with get_target("arm64-emu").load(str(cls_arm_nb)) as s:
        y = s.run({"x": x})["softmax_0.tmp_0"]
    assert y.shape == (1, 2) and abs(float(y.sum()) - 1) < 1e-5

    before = rt.lib.read_bytes()
    _release_archive(root, "armv8", top, {f"{top}/cxx/lib/extra.txt": RUNTIMES / "paddlelite-v2.13-rc"
                                                        "-armlinux" / "LICENSE"})
    p = lite_cli("runtime", "fetch", "v2.13-rc", "--arch", "armv8", "--base-url", base, env=env)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "does not match the expected" in p.stderr and p.stderr.count("\n") == 1
    assert rt.lib.read_bytes() == before and (rt.dir / runtimes.RUNNER).is_file()


def test_release_archive_with_an_escaping_member_is_refused(fresh_home, server, tmp_path):
    root, base = server
    top = runtimes.ARCHIVES["v2.13-rc"]["armv7hf"]
    payload = tmp_path / "p.txt"
    payload.write_text("x")
    _release_archive(root, "armv7hf", top, {f"{top}/cxx/lib/../../../../escaped.txt": payload})
    with pytest.raises(LiteError, match="points outside the archive"):
        runtimes.fetch("v2.13-rc", "armv7hf", base_url=base)
    assert not runtimes.store().joinpath("v2.13-rc", "armv7hf").exists()
    assert not list(fresh_home.rglob("escaped.txt")) and not list(tmp_path.rglob("escaped.txt"))


def test_release_archive_of_another_version_is_refused(fresh_home, server):
    """The library's own version must be the one asked for: a .nb runs only on its opt's runtime."""
    root, base = server
    top = runtimes.ARCHIVES["v2.13-rc"]["armv8"]
    _release_archive(root, "armv8", top, lib_version="v2.10-rc")  # a v2.10-rc library under the v2.13-rc name
    with pytest.raises(LiteError, match="its library says Paddle Lite v2.10-rc, not v2.13-rc"):
        runtimes.fetch("v2.13-rc", "armv8", base_url=base)


def test_runtime_folder_without_a_version_in_its_name_reads_the_library(fresh_home, tmp_path):
    """An unpacked official archive (inference_lite_lib.armlinux.armv8.../cxx) names no
    version; the library's own version string is used."""
    src = need(RUNTIMES / "paddlelite-v2.13-rc-armlinux" / "armv8")
    d = tmp_path / "inference_lite_lib.armlinux.armv8.gcc.with_extra.with_cv" / "cxx"
    (d / "lib").mkdir(parents=True)
    shutil.copy(src / runtimes.LIB, d / "lib" / runtimes.LIB)
    shutil.copytree(src / "include", d / "include")
    rts = runtimes.add(d)
    assert [(r.version, r.arch) for r in rts] == [("v2.13-rc", "armv8")]
