"""Host side of the runner protocol (see native/lite_runner.cc).

Both the emulated ARM runner and the x86 worker speak it, so every target
shares this code: start once, feed many inputs, time repeated runs.
"""
from __future__ import annotations

import struct
import subprocess
import tempfile

import numpy as np

from .errors import LiteError

_DTYPES = {b"f": np.float32, b"i": np.int32, b"l": np.int64}


def write_tensor(stream, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    stream.write(struct.pack("<i", arr.ndim) + struct.pack(f"<{arr.ndim}q", *arr.shape))
    stream.write(arr.tobytes())


def read_tensor(stream) -> np.ndarray:
    code = _read(stream, 1)
    dtype = _DTYPES.get(code)
    if dtype is None:
        raise LiteError(f"runner sent an unknown dtype code {code!r}")
    rank, = struct.unpack("<i", _read(stream, 4))
    dims = struct.unpack(f"<{rank}q", _read(stream, 8 * rank)) if rank else ()
    n = int(np.prod(dims)) if dims else 1
    data = _read(stream, n * np.dtype(dtype).itemsize)
    return np.frombuffer(data, dtype=dtype).reshape(dims).copy()


def _read(stream, n: int) -> bytes:
    buf = stream.read(n)
    if buf is None or len(buf) != n:
        raise EOFError
    return buf


class RunnerProcess:
    """One long-lived runner process with one `.nb` loaded."""

    def __init__(self, cmd: list[str], label: str, env: dict | None = None):
        self.label = label
        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr, env=env)
        except OSError as e:
            raise LiteError(f"{label}: cannot start {cmd[0]} ({e})") from None
        line = self._line()
        if not line.startswith("READY "):
            raise self._failure(line)
        version, ins, outs = (line[6:].split("\t") + ["", ""])[:3]
        self.version = version
        self.input_names = [n for n in ins.split(",") if n]
        self.output_names = [n for n in outs.split(",") if n]

    def _line(self) -> str:
        raw = self.proc.stdout.readline()
        if not raw:
            raise self._failure("")
        return raw.decode("utf-8", errors="replace").rstrip("\n")

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", errors="replace")

    def _failure(self, line: str) -> LiteError:
        if line.startswith("ERROR "):
            return LiteError(f"{self.label}: {line[6:]}")
        code = self.proc.wait(timeout=30) if self.proc.poll() is None else self.proc.returncode
        return LiteError(f"{self.label}: the runtime stopped (exit {code}): {fatal_reason(self.stderr_text())}")

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        try:
            self.proc.stdin.write(f"RUN {len(inputs)}\n".encode())
            for arr in inputs:
                write_tensor(self.proc.stdin, arr)
            self.proc.stdin.flush()
            line = self._line()
            if not line.startswith("OK "):
                raise self._failure(line)
            return [read_tensor(self.proc.stdout) for _ in range(int(line[3:]))]
        except (BrokenPipeError, EOFError):
            raise self._failure("") from None

    def bench(self, warmup: int, repeats: int) -> list[float]:
        try:
            self.proc.stdin.write(f"BENCH {warmup} {repeats}\n".encode())
            self.proc.stdin.flush()
            line = self._line()
            if not line.startswith("OK "):
                raise self._failure(line)
            return list(np.frombuffer(_read(self.proc.stdout, 8 * int(line[3:])), dtype=np.float64))
        except (BrokenPipeError, EOFError):
            raise self._failure("") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"QUIT\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


def fatal_reason(log: str) -> str:
    """The most telling line of a runtime's log: its fatal check, else the last line."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("[F") or "Check failed" in ln or "Error" in ln or "error" in ln:
            return ln[-300:]
    return lines[-1][-300:] if lines else "no message"
