"""Load real weights into a dygraph network from any of the forms PaddleOCR
ships: a trained checkpoint (`.pdparams`, matched by key), an inference model
or an ONNX export (matched in forward order, every shape checked). A mismatch
names the first parameter that does not fit."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lite.errors import LiteError

# Persistable inputs per op, in the order Paddle's dygraph layers hold them.
_SLOTS = {"conv2d": ("Filter", "Bias"), "depthwise_conv2d": ("Filter", "Bias"), "conv2d_transpose": ("Filter",),
          "batch_norm": ("Scale", "Bias", "Mean", "Variance"), "elementwise_add": ("Y",),
          "matmul_v2": ("Y",), "matmul": ("Y",), "mul": ("Y",), "fc": ("W", "Bias"),
          "reshape2": ("X",), "rnn": ("WeightList",)}  # a transposed conv's bias is reshaped to [1, C, 1, 1] before its add


def inference_params(model_dir: str | Path) -> list[tuple[str, np.ndarray]]:
    from slim.graph.static_program import open_inference_model

    with open_inference_model(model_dir) as sm:
        block, out, seen = sm.block, [], set()
        for op in block.ops:
            for slot in _SLOTS.get(op.type, ()):
                if slot not in op.input_names:
                    continue
                names = op.input(slot)
                if op.type == "rnn":  # all weights, then all biases; nn.LSTM holds w_ih, w_hh, b_ih, b_hh per cell
                    half = len(names) // 2
                    names = [n for i in range(0, half, 2) for n in (*names[i:i + 2], *names[half + i:half + i + 2])]
                for name in names:
                    var = block.vars.get(name)
                    if var is not None and var.persistable and name not in seen:
                        seen.add(name)
                        out.append((name, np.array(sm.scope.find_var(name).get_tensor())))
        return out


def op_weights(model_dir: str | Path) -> list[tuple[str, str]]:
    """(weight name, op type) for every persistable 2-D/4-D weight an op reads, in program order."""
    from slim.graph.static_program import open_inference_model

    with open_inference_model(model_dir) as sm:
        block, out, seen = sm.block, [], set()
        for op in block.ops:
            for name in op.input_arg_names:
                var = block.vars.get(name)
                if var is None or not var.persistable or op.type in ("feed", "fetch") or name in seen:
                    continue
                if len(var.shape) in (2, 4):
                    seen.add(name)
                    out.append((name, op.type))
        return out


def inference_attr(model_dir: str | Path, op_type: str, attr: str):
    """The first `op_type` op's `attr` in an inference model (None if absent)."""
    from slim.graph.static_program import open_inference_model

    with open_inference_model(model_dir) as sm:
        op = next((o for o in sm.block.ops if o.type == op_type), None)
        return op.attr(attr) if op is not None and op.has_attr(attr) else None


def inference_input_shape(model_dir: str | Path) -> list[int]:
    """The first feed's declared shape (-1 where free)."""
    from slim.graph.static_program import open_inference_model

    with open_inference_model(model_dir) as sm:
        return list(sm.block.var(sm.feeds[0]).shape)


def read_weights(source: str | os.PathLike):
    """A dict (checkpoint, by key) or an ordered list of (name, array)."""
    p = Path(source)
    if p.suffix == ".pdparams" or p.with_suffix(".pdparams").is_file() and not p.is_dir():
        import paddle

        f = p if p.suffix == ".pdparams" else p.with_suffix(".pdparams")
        if not f.is_file():
            raise LiteError(f"{f}: no such checkpoint")
        try:
            state = paddle.load(str(f))
        except Exception as e:  # noqa: BLE001 - paddle raises many kinds for a bad file
            raise LiteError(f"{f}: not a readable .pdparams checkpoint ({str(e).splitlines()[0][:100]})") from None
        if not isinstance(state, dict):
            raise LiteError(f"{f}: not a state dict; save it with paddle.save(model.state_dict(), ...)")
        return {k: np.asarray(v) for k, v in state.items()}
    if p.suffix == ".onnx" or p.is_dir() and (p / "model.onnx").is_file() and not any(p.glob("*.pdmodel")):
        from slim.nets.onnx_weights import onnx_params

        return onnx_params(p if p.suffix == ".onnx" else p / "model.onnx")
    return inference_params(p)


def _as_bias(arr: np.ndarray, shape: tuple) -> np.ndarray:
    """Exports broadcast a bias as [1, C, 1, 1]; the layer holds [C]."""
    if len(shape) == 1 and arr.ndim > 1 and arr.size == shape[0] and sum(d > 1 for d in arr.shape) <= 1:
        return arr.reshape(shape)
    return arr


def unique_state(net) -> tuple[dict, dict]:
    """(the state dict with each tensor under its first name, {other name:
    first name}): nn.LSTM lists each weight twice (`weight_ih_l0` and
    `0.cell_fw.weight_ih`, one tensor); weights match the first name in
    forward order, and are set under both."""
    state, alias = {}, {}
    for key, t in net.state_dict().items():
        first = next((k for k, u in state.items() if u is t), None)
        if first is None:
            state[key] = t
        else:
            alias[key] = first
    return state, alias


def load_weights(net, source: str | os.PathLike, what: str = "this network", src=None) -> str:
    """Set `net`'s parameters and buffers from `source` (or from `src`, its
    read_weights already in hand); returns how they matched."""
    src = read_weights(source) if src is None else src
    state, alias = unique_state(net)
    new = {}
    if isinstance(src, dict):
        for key, t in state.items():
            if key not in src and key in alias.values():  # a checkpoint may hold either name
                key_src = next((a for a, f in alias.items() if f == key and a in src), None)
                if key_src is not None:
                    src = {**src, key: src[key_src]}
            if key not in src:
                raise LiteError(f"{source}: checkpoint has no parameter `{key}`; it is not a {what} checkpoint")
            if tuple(src[key].shape) != tuple(t.shape):
                raise LiteError(f"{source}: parameter `{key}` has shape {list(src[key].shape)}, "
                                f"{what} needs {list(t.shape)}; the checkpoint is for a different model")
            new[key] = src[key]
        how = "by key"
    else:
        items = list(state.items())
        for i, (key, t) in enumerate(items):
            if i >= len(src):
                raise LiteError(f"{source}: has {len(src)} parameters, {what} needs {len(items)} "
                                f"(none for `{key}`); it is a different model")
            name, arr = src[i]
            arr = _as_bias(arr, tuple(t.shape))
            if tuple(arr.shape) != tuple(t.shape):
                raise LiteError(f"{source}: parameter {i} `{name}` has shape {list(arr.shape)} where {what}'s "
                                f"`{key}` needs {list(t.shape)}; it is a different model")
            new[key] = arr
        if len(src) != len(items):
            raise LiteError(f"{source}: has {len(src)} parameters, {what} needs {len(items)}; "
                            f"`{src[len(items)][0]}` is left over, so it is a different model")
        how = "in forward order"
    new.update({a: new[f] for a, f in alias.items()})
    net.set_state_dict({k: v.astype(np.float32) for k, v in new.items()})
    return how
