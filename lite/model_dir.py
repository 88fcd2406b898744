"""Find the files of a Paddle inference model, and refuse what opt cannot read."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import LiteError
from .protowire import entries


@dataclass
class InferenceModel:
    model_file: Path
    params_file: Path | None  # None: separate per-parameter files in model_dir
    model_dir: Path

    @property
    def name(self) -> str:
        return self.model_dir.name

    def load_form(self) -> tuple[str, dict]:
        """`paddle.static.load_inference_model`'s path and keywords for these
        files: PREFIX.pdmodel beside PREFIX.pdiparams by its prefix, as Paddle
        2.6 wants (the folder-and-names form logs a deprecation warning per
        load, which a per-layer scan repeats for every layer); else the folder
        and the file names."""
        if (self.params_file is not None and self.params_file.stem == self.model_file.stem
                and self.model_file.suffix == ".pdmodel" and self.params_file.suffix == ".pdiparams"):
            return str(self.model_dir / self.model_file.stem), {}
        return str(self.model_dir), {"model_filename": self.model_file.name,
                                     "params_filename": self.params_file.name if self.params_file else None}


@dataclass(frozen=True)
class ModelBuffers:
    """An inference model held in memory, for Paddle Inference to read without
    files: the program and its parameters in the combined format."""
    program: bytes
    params: bytes
    name: str = "in-memory model"

    def __str__(self) -> str:  # error messages name the model, not its bytes
        return self.name

    __repr__ = __str__


def locate(path: str | os.PathLike) -> InferenceModel:
    p = Path(path)
    if not p.exists():
        raise LiteError(f"{p}: no such model; give a Paddle inference model dir (inference.pdmodel + inference.pdiparams)")
    if p.is_file():
        if p.suffix == ".json":
            raise _pir(p)
        if p.suffix == ".onnx":
            raise LiteError(f"{p}: an ONNX model; opt reads Paddle inference models: convert it first "
                            "(x2paddle --framework=onnx --model FILE --save_dir DIR) and give DIR/inference_model")
        if p.suffix == ".pdmodel":
            params = p.with_suffix(".pdiparams")
            return InferenceModel(p, params if params.is_file() else None, p.parent)
        raise LiteError(f"{p}: not a Paddle inference model; give its directory or its .pdmodel file")
    for stem in ("inference", "model"):
        if (p / f"{stem}.pdmodel").is_file():
            params = p / f"{stem}.pdiparams"
            if not params.is_file():
                raise LiteError(f"{p}: {stem}.pdmodel has no {stem}.pdiparams beside it; copy the whole exported model dir")
            return InferenceModel(p / f"{stem}.pdmodel", params, p)
    if (p / "__model__").is_file():
        params = p / "__params__"
        return InferenceModel(p / "__model__", params if params.is_file() else None, p)
    jsons = sorted(p.glob("*.json"))
    if jsons and any(j.with_suffix(".pdiparams").is_file() for j in jsons):
        raise _pir(jsons[0])
    raise LiteError(f"{p}: no inference.pdmodel, model.pdmodel or __model__ inside; "
                    "export the model with PaddleOCR's tools/export_model.py")


def _pir(p: Path) -> LiteError:
    return LiteError(f"{p}: a Paddle 3 PIR (.json) program, which Paddle Lite's opt cannot read; re-export it "
                     "with paddlepaddle 2.x, or with FLAGS_enable_pir_api=0 set during export, to get a .pdmodel")


def program_ops(model_file: Path) -> list[str]:
    """Op types of block 0 of a ProgramDesc protobuf (a tiny wire-format walk)."""
    data = model_file.read_bytes()
    try:
        ops = []
        for field, value in _fields(data):
            if field == 1:  # blocks
                for bf, bv in _fields(value):
                    if bf == 4:  # ops
                        for of, ov in _fields(bv):
                            if of == 3:  # type
                                ops.append(ov.decode())
                break  # block 0 only
        if not ops:
            raise ValueError("no ops")
        return ops
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        raise LiteError(f"{model_file}: not a readable Paddle program ({e}); re-export the inference model") from None


def _fields(buf: bytes):
    """(field, payload) of length-delimited entries; other wire types give None."""
    for field, wire, value, _ in entries(buf):
        yield field, value if wire == 2 else None
