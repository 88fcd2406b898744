"""Drop operator attributes Paddle Lite never reads before opt sees a program.

opt copies every attribute of a Paddle program into the `.nb`, and a Paddle
2.x program carries dozens per op for MKL-DNN, cuDNN and the GPU quantizer.
In the naive_buffer format each attribute is a FlatBuffers table of about
130 bytes, so for the v2.0 direction classifier they are a third of the int8
`.nb`. The names below occur nowhere in Paddle Lite's sources (operators,
kernels, optimizer passes, model parser; checked at Paddle-Lite commit
3d329c95), so removing them cannot change what the runtime computes; Lite's
own parser already skips `op_callstack`, `op_role` and friends the same way
(lite/model_parser/compatible_pb.cc). Parity tests hold the `.nb` to that.
"""
from __future__ import annotations

from .protowire import entries, len_field

UNREAD_ATTRS = frozenset({
    "op_callstack", "op_role", "op_role_var", "op_namescope", "op_device", "workspace_size_MB",
    "with_quant_attr", "mkldnn_data_type", "use_cudnn", "exhaustive_search", "use_addto",
    "fuse_activation", "fuse_alpha", "fuse_beta",
    "Scale_in", "Scale_in_eltwise", "Scale_weights", "Scale_out", "Scale_x", "Scale_y",
    "x_data_format", "y_data_format",
    "fused_reshape_X", "fused_reshape_Y", "fused_reshape_Out",
    "fused_transpose_X", "fused_transpose_Y", "fused_transpose_Out",
})


def _raw(buf: bytes):
    """(field, raw bytes of the whole entry, payload or None) for each entry."""
    for field, wire, value, raw in entries(buf):
        yield field, raw, value if wire == 2 else None


def _attr_name(attr: bytes) -> str | None:
    for f, _, payload in _raw(attr):
        if f == 1:
            return payload.decode()
    return None


def _rebuild(buf: bytes, child_field: int, fn) -> bytes:
    """`buf` with each length-delimited `child_field` entry replaced by fn(payload) (None drops it)."""
    out = []
    for f, raw, payload in _raw(buf):
        if f == child_field and payload is not None:
            new = fn(payload)
            if new is not None:
                out.append(raw if new is payload else len_field(f, new))
        else:
            out.append(raw)
    return b"".join(out)


def strip_program(data: bytes, names: frozenset = UNREAD_ATTRS) -> tuple[bytes, int]:
    """A serialized ProgramDesc without the named op attributes, and how many were removed."""
    removed = 0

    def attr(a: bytes):
        nonlocal removed
        if _attr_name(a) in names:
            removed += 1
            return None
        return a

    def op(o: bytes):  # OpDesc.attrs = 4
        return _rebuild(o, 4, attr)

    def block(b: bytes):  # BlockDesc.ops = 4
        return _rebuild(b, 4, op)

    out = _rebuild(data, 1, block)  # ProgramDesc.blocks = 1
    return (out, removed) if removed else (data, 0)
