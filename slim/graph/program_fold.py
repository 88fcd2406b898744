"""A clean-up of programs exported by paddle.jit.save: paddle 2.6 adds a conv's
bias as `reshape2(bias) -> elementwise_add`, and the reshape hides the bias
from Paddle Lite's conv + add fusion, so each such conv costs three ops (and
in an int8 model, a dequantize and a float add). Here the add takes the 1-D
bias directly at axis 1, which Lite fuses into the conv."""
from __future__ import annotations

from pathlib import Path


def fold_bias_reshapes(model_dir: str | Path) -> int:
    """Rewrite the inference model in `model_dir` in place; returns how many reshapes were folded."""
    from slim.graph.static_program import open_inference_model

    with open_inference_model(model_dir) as sm:
        block = sm.block
        users: dict[str, list] = {}
        for op in block.ops:
            for name in op.input_arg_names:
                users.setdefault(name, []).append(op)
        folded = 0
        for op in list(block.ops):
            if op.type != "reshape2":
                continue
            src, out = op.input("X")[0], op.output("Out")[0]
            var = block.vars.get(src)
            use = users.get(out, [])
            if var is None or not var.persistable or len(var.shape) != 1 or len(use) != 1:
                continue
            add = use[0]
            shape = list(op.attr("shape"))
            if add.type != "elementwise_add" or add.input("Y") != [out] or len(shape) != 4 \
                    or shape[1] != var.shape[0] or any(d != 1 for i, d in enumerate(shape) if i != 1):
                continue
            add.desc.set_input("Y", [src])
            add.desc._set_attr("axis", 1)
            block._remove_op(list(block.ops).index(op))
            folded += 1
        if folded:
            sm.save(sm.model_file.parent / sm.model_file.stem)
        return folded
