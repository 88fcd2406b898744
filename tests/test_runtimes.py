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
