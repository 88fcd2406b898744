"""Boards over real ssh: an emulated aarch64 board behind a real OpenSSH
server on loopback (tests/emulated_board.py). `lite run`, `lite parity`,
`lite eval` and `lite bench` go through it and must agree with the local
emulated target; copies are content-addressed and verified; faults give
one line and exit 2. The adb path runs Debian's real adb client as far as
it goes without a phone."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from slim.data import cls_data

from .conftest import CLS_SHAPE, lite_cli
from .emulated_board import Board

SHAPE = ",".join(map(str, CLS_SHAPE))
pytestmark = pytest.mark.skipif(not (shutil.which("sshd") or os.path.exists("/usr/sbin/sshd")),
                                reason="openssh-server is absent; scripts/setup.sh installs it")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    b = Board(root).start()
    (root / "boards.yaml").write_text(
        f"boards:\n  emu-board: {{target: 'ssh://board', workdir: '{root / 'work'}'}}\n")
    yield b
    b.stop()


@pytest.fixture
def env(board):
    e = os.environ.copy()
    e.update(LITE_SSH_CONFIG=str(board.config), LITE_BOARDS=str(board.root / "boards.yaml"))
    return e


def _one_line_error(p):
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    return lines[0]


def test_run_and_parity_over_ssh_match_the_local_emulation(tmp_path, board, env, cls_arm_nb, cls_model):
    x = np.random.RandomState(7).uniform(-1, 1, CLS_SHAPE).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    outs = {}
    for target in ("emu-board", "arm64-emu"):
        p = lite_cli("run", str(cls_arm_nb), "--shape", SHAPE, "--target", target, "--input", str(tmp_path / "x.npy"),
                     "--output", str(tmp_path / f"{target}.npy"), env=env)
        assert p.returncode == 0, p.stderr[-2000:]
        outs[target] = np.load(tmp_path / f"{target}.npy")
    assert np.array_equal(outs["emu-board"], outs["arm64-emu"])  # the same runtime and kernels: bit for bit
    p = lite_cli("parity", str(cls_arm_nb), "--model", str(cls_model), "--target", "emu-board", "--samples", "2", "--shape", SHAPE,
                 "--tolerance", "1e-4", "--json", env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout)["max_abs_diff"] < 1e-4


def test_eval_over_ssh_equals_local(tmp_path, board, env, cls_arm_nb):
    crops = tmp_path / "crops"
    crops.mkdir()
    for i, (img, lab) in enumerate(cls_data.synthetic(16, "eval")):
        if lab == "0":
            cv2.imwrite(str(crops / f"{i:02d}.png"), img)
    res = {}
    for target in ("emu-board", "arm64-emu"):
        p = lite_cli("eval", str(cls_arm_nb), "--task", "cls", "--data", str(crops), "--target", target, "--json",
                     env=env)
        assert p.returncode == 0, p.stderr[-2000:]
        res[target] = json.loads(p.stdout)
    assert res["emu-board"]["size"] == 16 and res["emu-board"]["value"] == res["arm64-emu"]["value"]
    assert res["emu-board"]["target"]["device"]["arch"] == "armv8"


def test_copies_are_content_addressed_and_verified(board, env, cls_arm_nb):
    from lite.targets import get_target

    os.environ.update(LITE_SSH_CONFIG=env["LITE_SSH_CONFIG"], LITE_BOARDS=env["LITE_BOARDS"])
    t = get_target("emu-board")
    x = np.zeros(CLS_SHAPE, np.float32)
    with t.load(str(cls_arm_nb)) as s:
        first = s.run(x)
    with t.load(str(cls_arm_nb)) as s:  # nothing changed: nothing sent
        assert set(t.last_stage.values()) == {"kept"}
    # a damaged library on the board (a half copy, a full disk) is not trusted: sent again
    lib = next((board.root / "work").glob("rt-*/libpaddle_light_api_shared.so"))
    lib.write_bytes(lib.read_bytes()[:1000])
    with t.load(str(cls_arm_nb)) as s:
        assert list(t.last_stage.values()).count("sent") == 1
        again = s.run(x)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not list((board.root / "work").rglob("*.part"))


def test_bench_over_ssh_records_the_device_and_compares_interleaved(board, env, cls_arm_nb, cls_int8_nb):
    p = lite_cli("bench", str(cls_arm_nb), "--target", "emu-board", "--repeats", "3", "--threads", "2", "--shape", SHAPE,
                 "--power-mode", "high", "--json", env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout)
    assert r["threads"] == 2 and r["power_mode"] == "LITE_POWER_HIGH" and r["repeats"] == 3
    assert r["device"]["arch"] == "armv8" and r["device"]["cores"] >= 1 and r["device"]["governor"]
    lat = r["latency_ms"]
    assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["max"]
    p = lite_cli("bench", str(cls_arm_nb), str(cls_int8_nb[1]), "--target", "emu-board", "--repeats", "4", "--shape", SHAPE,
                 env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "ratio B/A (median latency, one run on ssh://board)" in p.stdout


def test_board_faults_are_one_line_errors(tmp_path, board, env, cls_arm_nb):
    # nothing listens on this port
    bad = dict(env)
    (tmp_path / "cfg").write_text(board.config.read_text().replace(f"Port {board.port}", "Port 1"))
    bad["LITE_SSH_CONFIG"] = str(tmp_path / "cfg")
    assert "cannot reach the board" in _one_line_error(lite_cli("bench", str(cls_arm_nb), "--shape", SHAPE, "--target", "ssh://board",
                                                                env=bad))
    # a key the board does not know
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    (tmp_path / "cfg2").write_text(board.config.read_text().replace(str(board.root / "client_key"),
                                                                    str(tmp_path / "other")))
    bad["LITE_SSH_CONFIG"] = str(tmp_path / "cfg2")
    assert "refused the key" in _one_line_error(lite_cli("run", str(cls_arm_nb), "--shape", SHAPE, "--target", "ssh://board", env=bad))
    # an x86 board
    x86 = Board(tmp_path / "x86board", machine="x86_64").start()
    try:
        e = dict(env, LITE_SSH_CONFIG=str(x86.config))
        assert "reports a x86_64 CPU" in _one_line_error(lite_cli("run", str(cls_arm_nb), "--shape", SHAPE, "--target", "ssh://board",
                                                                  env=e))
    finally:
        x86.stop()
    # an unknown board name
    assert "unknown target 'pi5'" in _one_line_error(lite_cli("run", str(cls_arm_nb), "--shape", SHAPE, "--target", "pi5", env=env))


def test_runner_killed_halfway_is_reported(board, env, cls_arm_nb):
    from lite.errors import LiteError
    from lite.targets import get_target

    os.environ.update(LITE_SSH_CONFIG=env["LITE_SSH_CONFIG"], LITE_BOARDS=env["LITE_BOARDS"])
    s = get_target("emu-board").load(str(cls_arm_nb))
    s.run(np.zeros(CLS_SHAPE, np.float32))
    subprocess.run(["pkill", "-f", "lite_runner-"], check=False)  # the board's runner dies
    with pytest.raises(LiteError, match="the runtime stopped"):
        s.run(np.zeros(CLS_SHAPE, np.float32))
    s.close()


def test_devices_lists_boards_with_their_architecture(board, env):
    p = lite_cli("devices", "--json", env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert rows["emu-board"]["arch"] == "armv8" and rows["emu-board"]["source"] == "boards.yaml"
    assert "board" not in rows  # the ssh config's Host is the board boards.yaml names: listed once
    assert "cores" in rows["emu-board"]["status"]


def test_adb_without_a_phone_stops_at_the_device_boundary(env, cls_arm_nb):
    if not shutil.which("adb"):
        pytest.skip("adb is absent; scripts/setup.sh installs it")
    line = _one_line_error(lite_cli("bench", str(cls_arm_nb), "--shape", SHAPE, "--target", "adb", env=env))
    assert "no Android device attached" in line
    line = _one_line_error(lite_cli("run", str(cls_arm_nb), "--shape", SHAPE, "--target", "adb:R58M000000", env=env))
    assert "no such device" in line
