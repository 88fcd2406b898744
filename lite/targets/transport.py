"""How commands and files reach a board: the system `ssh` client (keys,
agent and ~/.ssh/config are its business; no password is ever asked for,
stored or printed) or Android's `adb`. Every call has a timeout, and a
failure becomes one line that says what to check."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from ..errors import LiteError

CONNECT_TIMEOUT_S = 10


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise LiteError(f"{name} not found; install it (Debian: `apt-get install {package}`)")
    return path


class Transport:
    label = ""
    kind = ""

    def base(self) -> list[str]:
        raise NotImplementedError

    def shell_argv(self, cmd: str) -> list[str]:
        """argv that runs `cmd` (a POSIX shell line) on the board, stdin/stdout attached."""
        raise NotImplementedError

    def explain(self, stderr: str, code: int) -> str | None:
        """A transport failure in words, or None when the command itself failed."""
        raise NotImplementedError

    def run(self, cmd: str, timeout: float = 60, stdin: bytes | None = None, check: bool = True,
            what: str = "") -> subprocess.CompletedProcess:
        try:
            p = subprocess.run(self.shell_argv(cmd), input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LiteError(f"{self.label}: no answer within {timeout:.0f} s{' (' + what + ')' if what else ''}; "
                            "check the board and the connection") from None
        err = p.stderr.decode("utf-8", "replace")
        why = self.explain(err, p.returncode)
        if why:
            raise LiteError(f"{self.label}: {why}")
        if check and p.returncode != 0:
            last = (err.strip().splitlines() or [f"exit {p.returncode}"])[-1]
            raise LiteError(f"{self.label}: {what or cmd.split()[0]} failed on the board: {last[-300:]}")
        return p

    def push(self, local: Path, remote: str, timeout: float = 600) -> None:
        raise NotImplementedError


class Ssh(Transport):
    """`ssh://[user@]host[:port]` (host may be an alias from ~/.ssh/config)."""
    kind = "ssh"

    def __init__(self, url: str, config: str | None = None):
        m = re.fullmatch(r"ssh://(?:([^@/:]+)@)?([^@/:]+)(?::(\d+))?/?", url)
        if not m:
            raise LiteError(f"{url}: not an ssh target; write ssh://[user@]host[:port]")
        self.user, self.host, self.port = m.group(1), m.group(2), m.group(3)
        self.label = url
        self.config = config or os.environ.get("LITE_SSH_CONFIG")

    def base(self) -> list[str]:
        args = [_tool("ssh", "openssh-client"), "-T", "-o", "BatchMode=yes",  # keys only: never a password prompt
                "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", "-o", "ServerAliveInterval=15",
                "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR"]
        if self.config:
            args += ["-F", self.config]
        if self.port:
            args += ["-p", self.port]
        return args + [f"{self.user}@{self.host}" if self.user else self.host]

    def shell_argv(self, cmd: str) -> list[str]:
        return self.base() + ["--", cmd]

    def explain(self, stderr: str, code: int) -> str | None:
        if code != 255:
            return None
        line = next((ln.strip() for ln in stderr.splitlines() if ln.strip()), "ssh failed")
        if "Permission denied" in line:
            return (f"the board refused the key ({line}); add your public key to its ~/.ssh/authorized_keys "
                    "or name the key in ~/.ssh/config (IdentityFile)")
        if "Host key verification failed" in line:
            return f"{line}; connect once with `ssh {self.host}` to check and accept the host key"
        return f"cannot reach the board ({line}); check the host name, port and that sshd runs there"

    def push(self, local: Path, remote: str, timeout: float = 600) -> None:
        # through the same ssh command (cat on the far side): no scp/sftp needed on the board
        with open(local, "rb") as f:
            try:
                p = subprocess.run(self.shell_argv(f"cat > {quote_path(remote)}"), stdin=f, capture_output=True,
                                   timeout=timeout)
            except subprocess.TimeoutExpired:
                raise LiteError(f"{self.label}: copying {local.name} took over {timeout:.0f} s") from None
        err = p.stderr.decode("utf-8", "replace")
        why = self.explain(err, p.returncode)
        if why or p.returncode:
            raise LiteError(f"{self.label}: copying {local.name} failed: {why or _last(err, p.returncode)}")


class Adb(Transport):
    """`adb` (the only device) or `adb:SERIAL`."""
    kind = "adb"

    def __init__(self, url: str):
        self.serial = url.split(":", 1)[1] if ":" in url else None
        self.label = url

    def base(self) -> list[str]:
        return [_tool("adb", "adb")] + (["-s", self.serial] if self.serial else [])

    def shell_argv(self, cmd: str) -> list[str]:
        return self.base() + ["shell", cmd]

    def explain(self, stderr: str, code: int) -> str | None:
        for needle, why in (("no devices/emulators found", "no Android device attached; plug one in with USB "
                             "debugging on and check `adb devices`"),
                            ("not found", "no such device; see `adb devices` for serial numbers"),
                            ("unauthorized", "the device has not authorised this computer; accept the prompt on it"),
                            ("more than one device", "more than one device attached; name one: --target adb:SERIAL"),
                            ("offline", "the device is offline; reconnect it")):
            if needle in stderr and code != 0 and stderr.lstrip().startswith(("error:", "adb:")):
                return why
        return None

    def push(self, local: Path, remote: str, timeout: float = 600) -> None:
        try:
            p = subprocess.run(self.base() + ["push", str(local), remote], capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LiteError(f"{self.label}: adb push of {local.name} took over {timeout:.0f} s") from None
        if p.returncode:
            err = p.stderr.decode("utf-8", "replace") + p.stdout.decode("utf-8", "replace")
            raise LiteError(f"{self.label}: copying {local.name} failed: {self.explain(err, 1) or _last(err, 1)}")


def quote_path(path: str) -> str:
    """Quote a path for the board's shell, leaving a leading ~/ for it to expand."""
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)


def _last(err: str, code: int) -> str:
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    return lines[-1][-300:] if lines else f"exit {code}"


def transport_for(name: str) -> Transport:
    if name.startswith("ssh://"):
        return Ssh(name)
    if name == "adb" or name.startswith("adb:"):
        return Adb(name)
    raise LiteError(f"{name}: not a board target; write ssh://[user@]host[:port], adb or adb:SERIAL")
