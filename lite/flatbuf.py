"""A minimal read-only FlatBuffers table reader.

Paddle Lite stores a `.nb` program as a FlatBuffers `ProgramDesc`. Only a
handful of fields are needed (ops, their attributes, variables), so a small
vtable walker is enough and avoids generated code. Every access is bounds
checked: a corrupt file raises `ValueError`, never crashes.
"""
from __future__ import annotations

import struct


class Table:
    __slots__ = ("buf", "pos", "_vt", "_vt_len")

    def __init__(self, buf: memoryview, pos: int):
        self.buf = buf
        self.pos = pos
        _check(buf, pos, 4)
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        _check(buf, vt, 4)
        self._vt = vt
        self._vt_len = struct.unpack_from("<H", buf, vt)[0]
        _check(buf, vt, self._vt_len)

    def _field(self, slot: int) -> int:
        """Absolute position of field `slot` (0-based), or 0 when absent."""
        off = 4 + 2 * slot
        if off + 2 > self._vt_len:
            return 0
        rel = struct.unpack_from("<H", self.buf, self._vt + off)[0]
        return self.pos + rel if rel else 0

    def has(self, slot: int) -> bool:
        return bool(self._field(slot))

    def string_bytes(self, slot: int) -> bytes | None:
        p = self._deref(slot)
        return _bytes_at(self.buf, p) if p else None

    def strings_bytes(self, slot: int) -> list[bytes]:
        start, n = self._vector(slot)
        _check(self.buf, start, 4 * n)
        return [_bytes_at(self.buf, start + 4 * i + struct.unpack_from("<I", self.buf, start + 4 * i)[0])
                for i in range(n)]

    def scalar(self, slot: int, fmt: str, default=0):
        p = self._field(slot)
        if not p:
            return default
        _check(self.buf, p, struct.calcsize(fmt))
        return struct.unpack_from("<" + fmt, self.buf, p)[0]

    def _deref(self, slot: int) -> int:
        p = self._field(slot)
        if not p:
            return 0
        _check(self.buf, p, 4)
        return p + struct.unpack_from("<I", self.buf, p)[0]

    def string(self, slot: int, default: str | None = None) -> str | None:
        p = self._deref(slot)
        return _string_at(self.buf, p) if p else default

    def table(self, slot: int) -> "Table | None":
        p = self._deref(slot)
        return Table(self.buf, p) if p else None

    def _vector(self, slot: int) -> tuple[int, int]:
        p = self._deref(slot)
        if not p:
            return 0, 0
        _check(self.buf, p, 4)
        n = struct.unpack_from("<I", self.buf, p)[0]
        return p + 4, n

    def tables(self, slot: int) -> list["Table"]:
        start, n = self._vector(slot)
        _check(self.buf, start, 4 * n)
        out = []
        for i in range(n):
            q = start + 4 * i
            out.append(Table(self.buf, q + struct.unpack_from("<I", self.buf, q)[0]))
        return out

    def strings(self, slot: int) -> list[str]:
        start, n = self._vector(slot)
        _check(self.buf, start, 4 * n)
        return [
            _string_at(self.buf, start + 4 * i + struct.unpack_from("<I", self.buf, start + 4 * i)[0])
            for i in range(n)
        ]

    def scalars(self, slot: int, fmt: str) -> list:
        start, n = self._vector(slot)
        size = struct.calcsize(fmt)
        _check(self.buf, start, size * n)
        return list(struct.unpack_from("<%d%s" % (n, fmt), self.buf, start)) if n else []


def root(buf: bytes | memoryview) -> Table:
    mv = memoryview(buf)
    _check(mv, 0, 4)
    return Table(mv, struct.unpack_from("<I", mv, 0)[0])


def _bytes_at(buf, p: int) -> bytes:
    _check(buf, p, 4)
    n = struct.unpack_from("<I", buf, p)[0]
    _check(buf, p + 4, n)
    return bytes(buf[p + 4 : p + 4 + n])


def _string_at(buf, p: int) -> str:
    return _bytes_at(buf, p).decode("utf-8", errors="replace")


def _check(buf, pos: int, size: int) -> None:
    if pos < 0 or size < 0 or pos + size > len(buf):
        raise ValueError(f"offset {pos}+{size} outside a buffer of {len(buf)} bytes")
