"""`lite parity`: the same inputs through a `.nb` and through Paddle Inference."""
from __future__ import annotations

import numpy as np

from .errors import LiteError
from .model_dir import ModelBuffers, locate
from .nbfile import read_nb
from .targets import emulation_options, get_target


def create_predictor(model_dir: str | ModelBuffers, ir_optim: bool):
    """A one-thread CPU Paddle Inference predictor (paddle imported here, never beside paddlelite)."""
    import paddle.inference as pi

    if isinstance(model_dir, ModelBuffers):
        cfg = pi.Config()
        cfg.set_model_buffer(model_dir.program, len(model_dir.program), model_dir.params, len(model_dir.params))
    else:
        m = locate(model_dir)
        cfg = pi.Config(str(m.model_file), str(m.params_file)) if m.params_file else pi.Config(str(m.model_dir))
    cfg.disable_gpu()
    cfg.switch_ir_optim(ir_optim)
    cfg.disable_glog_info()
    cfg.set_cpu_math_library_num_threads(1)
    return pi.create_predictor(cfg)


def paddle_inference(model_dir: str | ModelBuffers, feeds: list, ir_optim: bool) -> list[dict[str, np.ndarray]]:
    """Reference outputs from Paddle Inference."""
    pred = create_predictor(model_dir, ir_optim)
    outs = []
    names = pred.get_input_names()
    for feed in feeds:
        if isinstance(feed, (list, tuple)):  # arrays in the model's input order
            feed = dict(zip(names, feed))
        for name in names:
            if name not in feed:
                raise LiteError(f"{model_dir}: the inference model takes input {name!r}, the .nb does not")
            h = pred.get_input_handle(name)
            h.reshape(list(feed[name].shape))
            h.copy_from_cpu(np.ascontiguousarray(feed[name]))
        pred.run()
        outs.append({n: pred.get_output_handle(n).copy_to_cpu() for n in pred.get_output_names()})
    return outs


def parity(nb: str, model_dir: str, target: str = "x86", shapes: dict | None = None,
           inputs: dict | None = None, samples: int = 3, cpu: str = "generic") -> dict:
    from .inputs import default_inputs

    info = read_nb(nb)
    feeds = [inputs] if inputs else default_inputs(info, shapes, samples=samples)
    opts = emulation_options(target, cpu=cpu)
    t = get_target(target, **opts)
    with t.load(nb) as s:
        lite_outs = [s.run(f) for f in feeds]
    result = {"model": nb, "reference": str(model_dir), "target": t.describe(), "samples": len(feeds)}
    for ir in (True, False):
        ref = paddle_inference(model_dir, feeds, ir)
        diff = 0.0
        per_output: dict[str, float] = {}
        for lo, ro in zip(lite_outs, ref):
            for i, (name, a) in enumerate(lo.items()):
                b = ro.get(name)
                if b is None:  # names can differ after opt's fusions; fall back to order
                    b = list(ro.values())[i]
                if a.shape != b.shape:
                    raise LiteError(f"{nb}: output {name!r} has shape {a.shape} on Lite but {b.shape} in Paddle Inference")
                d = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
                per_output[name] = max(per_output.get(name, 0.0), d)
                diff = max(diff, d)
        key = "ir_optim_on" if ir else "ir_optim_off"
        result[key] = {"max_abs_diff": diff, "per_output": per_output}
    # Paddle Inference's IR passes change some graphs' numerics (a fake-quant graph
    # differs by ~3e-3 with them off while the int8 .nb matches IR-on to 3e-8), so
    # the verdict is against the closer of the two; both are reported.
    result["max_abs_diff"] = min(result["ir_optim_on"]["max_abs_diff"], result["ir_optim_off"]["max_abs_diff"])
    return result


def output_quant_steps(model_dir: str) -> dict[str, float]:
    """One quantization step of each output of a quantized (fake-quant) model:
    the recorded `out_threshold` / 127 of the op that produces it, followed back
    through identity `scale` ops. That is the resolution of the int8 .nb's
    output, so the unit in which its parity with Paddle's graph is judged: the
    x86 kernels behind that graph differ by host (AVX2, AVX-512, oneDNN) and
    can move a value near a rounding boundary to the next int8 code."""
    import paddle

    m = locate(model_dir)
    paddle.enable_static()
    try:
        exe = paddle.static.Executor(paddle.CPUPlace())
        where, names = m.load_form()
        prog, _, fetch = paddle.static.load_inference_model(where, exe, **names)
        producer = {out: op for op in prog.global_block().ops for out in op.output_arg_names}
        steps = {}
        for var in fetch:
            name, op = var.name, producer.get(var.name)
            while op is not None and op.type == "scale" and op.attr("scale") == 1.0 and op.attr("bias") == 0.0 \
                    and not op.has_attr("out_threshold"):
                op = producer.get(op.input_arg_names[0])
            if op is None or not op.has_attr("out_threshold"):
                raise LiteError(f"{model_dir}: output {name!r} has no recorded quantization scale; "
                                "is this a quantized model?")
            steps[name] = float(op.attr("out_threshold")) / 127.0
        return steps
    finally:
        paddle.disable_static()
