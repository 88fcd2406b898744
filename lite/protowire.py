"""A tiny protobuf wire-format walker: enough to read a Paddle ProgramDesc or
an ONNX graph, and to rewrite one, without generated classes."""
from __future__ import annotations


def varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("bad varint")


def entries(buf: bytes):
    """(field, wire type, value, raw entry bytes): varints decoded, length-delimited
    payloads and fixed-width values as bytes."""
    i = 0
    while i < len(buf):
        start = i
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            v, i = buf[i:i + n], i + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wire}")
        yield field, wire, v, buf[start:i]


def len_field(field: int, payload: bytes) -> bytes:
    out = bytearray()
    for v in ((field << 3) | 2, len(payload)):
        while True:
            b = v & 0x7F
            v >>= 7
            out.append(b | (0x80 if v else 0))
            if not v:
                break
    return bytes(out) + payload
