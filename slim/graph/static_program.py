"""One way to open an inference model as a static program: paddle in static
mode for the duration (restored even on error), the program, its feeds and
fetches, and a private scope holding its parameters."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lite.model_dir import locate


@dataclass
class StaticModel:
    prog: object
    feeds: list
    fetches: list
    exe: object
    scope: object
    model_file: Path

    @property
    def block(self):
        return self.prog.global_block()

    def save(self, path_prefix: str | Path) -> None:
        """Write the (possibly rewritten) program and the scope's parameters."""
        import paddle

        feed_vars = [self.block.var(n) for n in self.feeds]
        # clip_extra=False: Paddle 2.6 counts swish's `beta` as an extra attribute
        # and would drop it, but Paddle Lite's swish requires it (PP-OCRv4 rec)
        paddle.static.save_inference_model(str(path_prefix), feed_vars, self.fetches, self.exe, program=self.prog,
                                           clip_extra=False)


@contextlib.contextmanager
def static_mode():
    """Paddle in static mode for the duration; the caller's mode comes back
    even on error, so a later dygraph network never finds static mode on."""
    import paddle

    was_dygraph = paddle.in_dynamic_mode()
    paddle.enable_static()
    try:
        yield paddle
    finally:
        if was_dygraph:
            paddle.disable_static()


@contextlib.contextmanager
def open_inference_model(model_dir: str | Path):
    m = locate(model_dir)
    with static_mode() as paddle:
        exe = paddle.static.Executor(paddle.CPUPlace())
        scope = paddle.static.Scope()
        with paddle.static.scope_guard(scope):
            where, names = m.load_form()
            prog, feeds, fetches = paddle.static.load_inference_model(where, exe, **names)
            yield StaticModel(prog, feeds, fetches, exe, scope, m.model_file)


def fix_input_height(sm: StaticModel, height: int) -> None:
    """Give the program a static input height and let compile-time shape
    inference carry it through (the width stays free): the rewrites for
    Lite's kernels need each layer's height."""
    block = sm.block
    x = block.var(sm.feeds[0])
    if len(x.shape) != 4:
        return
    x.desc.set_shape([x.shape[0], x.shape[1], height, x.shape[3]])
    for op in block.ops:
        if op.type in ("feed", "fetch"):
            continue
        try:
            op.desc.infer_shape(block.desc)
        except Exception:  # noqa: BLE001 - an op without compile-time inference keeps its shapes
            pass


def param(sm, name: str) -> np.ndarray | None:
    """A persistable parameter's value, None for anything else (an activation, a missing name)."""
    v = sm.block.vars.get(name)
    if v is None or not v.persistable:
        return None
    found = sm.scope.find_var(name)
    return None if found is None else np.array(found.get_tensor())


def set_param(sm, name: str, value: np.ndarray) -> None:
    import paddle

    sm.scope.find_var(name).get_tensor().set(value.astype(np.float32), paddle.CPUPlace())


def consumers(block, name: str) -> list:
    """The ops that read `name`."""
    return [op for op in block.ops if name in op.input_arg_names]


def consumer_map(block) -> dict:
    """Each variable's reading ops, for a rewrite that looks up many
    variables (consumers() scans the whole block per call)."""
    readers: dict[str, list] = {}
    for op in block.ops:
        for n in op.input_arg_names:
            readers.setdefault(n, []).append(op)
    return readers


def producers(block) -> dict:
    """Each variable's writing op."""
    return {o: op for op in block.ops for o in op.output_arg_names}


def drop_dead_ops(block) -> int:
    """Removes the ops no fetch depends on (what saving prunes), for a
    program that is serialized without being saved; returns how many."""
    needed: set = set()
    dead = []
    for i in range(len(block.ops) - 1, -1, -1):
        op = block.ops[i]
        if op.type in ("feed", "fetch") or any(o in needed for o in op.output_arg_names):
            needed.update(op.input_arg_names)
        else:
            dead.append(i)
    for i in dead:  # descending; one sync at the end (a sync per removal costs seconds)
        block._remove_op(i, sync=False)
    block.program._sync_with_cpp()
    return len(dead)


def serialized_params(sm: StaticModel) -> bytes:
    """Every persistable variable the program declares, used or not, in the
    combined-params format Paddle Inference reads (sorted by name)."""
    import paddle
    from paddle.static.io import _serialize_persistables  # the public form prunes unused variables first

    with paddle.static.scope_guard(sm.scope):
        return _serialize_persistables(sm.prog, sm.exe)
