"""An emulated aarch64 board behind a real OpenSSH server, for the tests.

A real `sshd` listens on loopback with its own host key, an authorized key
made here and a forced command: the wrapper below runs what the client
asked for, except that the ARM runner it is asked to exec runs under
qemu-aarch64 and `uname -m` answers aarch64 (a board's view). Nothing
touches the user's ~/.ssh: the client side uses its own config file."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

WRAPPER = """#!/bin/bash
# forced command of the emulated board
export PATH="{bin}:$PATH"
cmd="$SSH_ORIGINAL_COMMAND"
cmd="${{cmd//exec .\\/lite_runner-/exec {qemu} -L {sysroot} .\\/lite_runner-}}"
exec /bin/bash -c "$cmd"
"""

UNAME = """#!/bin/bash
# the board's uname: an aarch64 machine ({machine})
if [ "$1" = "-m" ]; then echo {machine}; else exec /bin/uname "$@"; fi
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Board:
    def __init__(self, root: Path, machine: str = "aarch64"):
        self.root, self.machine = root, machine
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Board":
        r = self.root
        (r / "bin").mkdir(parents=True, exist_ok=True)
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        for key in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(r / key)], check=True)
        (r / "authorized_keys").write_text((r / "client_key.pub").read_text())
        qemu = shutil.which("qemu-aarch64")
        (r / "board.sh").write_text(WRAPPER.format(bin=r / "bin", qemu=qemu, sysroot="/usr/aarch64-linux-gnu"))
        (r / "bin" / "uname").write_text(UNAME.format(machine=self.machine))
        for f in (r / "board.sh", r / "bin" / "uname"):
            f.chmod(0o755)
        (r / "sshd_config").write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {r / 'host_key'}",
            f"AuthorizedKeysFile {r / 'authorized_keys'}", f"PidFile {r / 'sshd.pid'}", "StrictModes no",
            "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes", f"ForceCommand {r / 'board.sh'}", "PermitRootLogin yes",
            "LogLevel ERROR", ""]))
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation dir
        self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(r / "sshd_config")],
                                     stdout=subprocess.DEVNULL, stderr=open(r / "sshd.log", "wb"))
        self.write_client_config(r / "ssh_config", r / "client_key")
        deadline = time.time() + 20
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(r / 'sshd.log').read_text()[-500:]}")
            time.sleep(0.1)
        raise RuntimeError("sshd did not start listening")

    def write_client_config(self, path: Path, key: Path) -> None:
        path.write_text("\n".join([
            "Host board", "  HostName 127.0.0.1", f"  Port {self.port}", f"  User {os.environ.get('USER', 'root')}",
            f"  IdentityFile {key}", "  IdentitiesOnly yes", f"  UserKnownHostsFile {self.root / 'known_hosts'}",
            "  StrictHostKeyChecking accept-new", ""]))

    @property
    def config(self) -> Path:
        return self.root / "ssh_config"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
