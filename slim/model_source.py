"""Whatever the user gives as `--model`, an inference model dir to work on:
a zoo name, an inference dir, a trained `.pdparams` checkpoint or an ONNX
export (the last two through the task's dygraph network, exported with
paddle.jit.save). The user's files are only read."""
from __future__ import annotations

from pathlib import Path

from lite.errors import LiteError

from .zoo import resolve


def build_network(task: str):
    if task == "cls":
        from .nets.cls_mobilenetv3 import TextClassifier

        return TextClassifier(), "ch_ppocr_mobile_v2.0_cls (MobileNetV3 small x0.35)", [None, 3, None, None]
    raise LiteError(f"no trainable network for task {task!r} in this version")


def export_inference(net, out_dir: Path, input_shape: list) -> Path:
    import paddle

    net.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = [paddle.static.InputSpec(shape=input_shape, dtype="float32", name="x")]
    paddle.jit.save(paddle.jit.to_static(net, input_spec=spec, full_graph=True), str(out_dir / "inference"))
    return out_dir


def load_network(task: str, source: str | Path):
    """The task's dygraph network with the weights of `source` (checkpoint, inference dir or ONNX)."""
    from .nets.weights import load_weights

    net, what, _ = build_network(task)
    load_weights(net, source, what)
    net.eval()
    return net


def inference_dir(model: str, task: str, work: Path) -> tuple[str, Path]:
    """(model name, inference dir) for `model`."""
    p = Path(model)
    if p.is_file() and p.suffix in (".pdparams", ".onnx") or p.is_dir() and not any(p.glob("*.pdmodel")) \
            and not (p / "__model__").is_file() and ((p / "model.onnx").is_file() or any(p.glob("*.pdparams"))):
        if p.is_dir():
            p = p / "model.onnx" if (p / "model.onnx").is_file() else sorted(p.glob("*.pdparams"))[0]
        from .nets.weights import load_weights

        net, what, shape = build_network(task)
        load_weights(net, p, what)
        name = p.parent.name if p.stem in ("model", "best_accuracy", "latest") else p.stem
        return name, export_inference(net, work / "from_weights", shape)
    if not p.exists():
        from .zoo import get

        m = get(model)
        if m.task != task:
            raise LiteError(f"{m.name} is a {m.task} model; this command needs a {task} model")
    return resolve(model)


def load_det(model: str) -> tuple[str, object]:
    """(name, DB network with `model`'s weights and channel counts): a zoo
    name, an inference dir, an ONNX export or a trained `.pdparams`
    (PaddleOCR keys; with a threshold head when the checkpoint has one)."""
    from .nets.det_db import DBNet, widths_from_list, widths_of
    from .nets.weights import load_weights, read_weights

    p = Path(model)
    if not p.exists():
        from .zoo import get

        m = get(model)
        if m.task != "det":
            raise LiteError(f"{m.name} is a {m.task} model; this command needs a det model")
        name, p = resolve(model)
    else:
        if p.is_dir() and (p / "model.onnx").is_file() and not any(p.glob("*.pdmodel")):
            p = p / "model.onnx"
        name = p.parent.name if p.is_file() and p.stem in ("model", "best_accuracy", "latest") else p.stem
    src = read_weights(p)
    what = "the DB detector (MobileNetV3 large + DBFPN)"
    try:
        if isinstance(src, dict):
            net = DBNet(widths_of({k: v.shape for k, v in src.items()}), with_thresh="head.thresh.conv1.weight" in src)
        else:
            net = DBNet(widths_from_list(src), with_thresh=False)
    except (KeyError, IndexError) as e:
        why = f"no `{e.args[0]}`" if isinstance(e, KeyError) else "too few convolutions"
        raise LiteError(f"{p}: not {what}: its weights do not follow that layout ({why}); "
                        "give a ch_ppocr_mobile_v2.0_det model or checkpoint") from None
    load_weights(net, p, what, src)
    net.eval()
    return name, net
