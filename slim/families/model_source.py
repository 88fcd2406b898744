"""Whatever the user gives as `--model`, an inference model dir to work on:
a zoo name, an inference dir, a trained `.pdparams` checkpoint or an ONNX
export (the last two through the task's dygraph network, exported with
paddle.jit.save). The user's files are only read."""
from __future__ import annotations

from pathlib import Path

from lite.errors import LiteError

from slim.families.zoo import resolve


def _cls_network():
    from slim.nets.cls_mobilenetv3 import TextClassifier

    return TextClassifier(), "ch_ppocr_mobile_v2.0_cls (MobileNetV3 small x0.35)", [None, 3, None, None]


# families whose dygraph network is built here (det and rec have loaders of their own: load_det, load_rec)
NETWORKS = {"cls": _cls_network}


def build_network(task: str):
    if task not in NETWORKS:
        raise LiteError(f"no trainable network for task {task!r} in this version")
    return NETWORKS[task]()


def forget_traced_parameters() -> None:
    """paddle 2.6 files the parameters a to_static trace touches under id(program)
    and drops them only when the trace completes; a trace that raised leaves them
    behind, and a later program allocated at the same address inherits them
    (jit.save then fails with KeyError on a stranger's `*_deepcopy_N` parameter).
    No trace is in flight here, so the records can only be stale."""
    from paddle.jit.dy2static.program_translator import ProgramTranslator

    pt = ProgramTranslator.get_instance()
    pt._params_recorder.params_dict.clear()
    pt._inplace_map.params_dict.clear()


def export_inference(net, out_dir: Path, input_shape: list) -> Path:
    import paddle

    net.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = [paddle.static.InputSpec(shape=input_shape, dtype="float32", name="x")]
    forget_traced_parameters()
    paddle.jit.save(paddle.jit.to_static(net, input_spec=spec, full_graph=True), str(out_dir / "inference"))
    from slim.graph.program_fold import fold_bias_reshapes

    fold_bias_reshapes(out_dir)
    return out_dir


def load_network(task: str, source: str | Path):
    """The task's dygraph network with the weights of `source` (checkpoint, inference dir or ONNX)."""
    from slim.nets.weights import load_weights

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
        from slim.nets.weights import load_weights

        net, what, shape = build_network(task)
        load_weights(net, p, what)
        name = p.parent.name if p.stem in ("model", "best_accuracy", "latest") else p.stem
        return name, export_inference(net, work / "from_weights", shape)
    if not p.exists():
        from slim.families.zoo import get

        m = get(model)
        if m.task != task:
            raise LiteError(f"{m.name} is a {m.task} model; this command needs a {task} model")
    return resolve(model)


def load_det(model: str) -> tuple[str, object]:
    """(name, DB network with `model`'s weights and channel counts): a zoo
    name, an inference dir, an ONNX export or a trained `.pdparams`
    (PaddleOCR keys; with a threshold head when the checkpoint has one)."""
    from slim.nets.det_db import DBNet, widths_from_list, widths_of
    from slim.nets.weights import load_weights, read_weights

    name, p = _local(model, "det")
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


def load_rec(model: str) -> tuple[str, object]:
    """(name, CRNN network with `model`'s weights): a zoo name, an inference
    dir, an ONNX export or a trained `.pdparams` of a v2.0 CRNN recognizer.
    Class count and LSTM width come from the weights; an ONNX export's hard-
    sigmoid slope from its graph."""
    from slim.nets.rec_crnn import CRNN, shape_of
    from slim.nets.weights import load_weights, read_weights

    name, p = _local(model, "rec")
    src = read_weights(p)
    what = "a v2.0 CRNN recognizer (MobileNetV3 small x0.5 + BiLSTM + CTC)"
    slope = 0.2
    try:
        if isinstance(src, dict):
            hh = src.get("neck.encoder.lstm.0.cell_fw.weight_hh", src.get("neck.encoder.lstm.weight_hh_l0"))
            n_classes, hidden = int(src["head.fc.bias"].shape[0]), int(hh.shape[1])
        else:
            n_classes, hidden = shape_of([a.shape for _, a in src])
            if p.suffix == ".onnx":
                from slim.nets.onnx_weights import float_attrs

                slope = next((a["alpha"] for a in float_attrs(p, "HardSigmoid") if "alpha" in a), 0.2)
            else:
                from slim.nets.weights import inference_attr

                slope = inference_attr(p, "hard_sigmoid", "slope") or 0.2
    except (KeyError, StopIteration, AttributeError, IndexError):
        raise LiteError(f"{p}: not {what}: no BiLSTM and CTC head in its weights; "
                        "PP-OCRv3/v4 recognizers are quantized from their inference model") from None
    net = CRNN(n_classes, hidden, se_slope=slope)
    load_weights(net, p, what, src)
    net.eval()
    return name, net


def model_name(model: str) -> str:
    """The name a model goes by: a zoo name (aliases resolved) or its folder/file name."""
    p = Path(model)
    if not p.exists():
        from slim.families.zoo import ALIASES

        return ALIASES.get(model, model)
    if p.is_file() and p.stem in ("model", "best_accuracy", "latest", "inference"):
        return p.parent.name
    return p.name if p.is_dir() else p.stem


def _local(model: str, task: str) -> tuple[str, Path]:
    """(name, local path) for a zoo name (downloaded once) or a local model."""
    p = Path(model)
    if not p.exists():
        from slim.families.zoo import get

        m = get(model)
        if m.task != task:
            raise LiteError(f"{m.name} is a {m.task} model; this command needs a {task} model")
        return resolve(model)
    if p.is_dir() and (p / "model.onnx").is_file() and not any(p.glob("*.pdmodel")):
        p = p / "model.onnx"
    return model_name(model), p  # a folder keeps its whole name (`..._v2.0_rec`, not its "stem")
