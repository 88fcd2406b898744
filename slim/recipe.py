"""Recipes: plain YAML a user can read and edit; each section maps onto one
config dataclass, and unknown or mistyped keys are named in the error."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lite.errors import LiteError

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


@dataclass
class PTQConfig:
    method: str = "ptq"
    algos: list = field(default_factory=lambda: ["KL", "hist", "avg", "mse", "emd", "abs_max", "min_max"])
    weight_quantize_type: str = "channel_wise_abs_max"
    calib_size: int = 128
    batch_size: int = 16


@dataclass
class MixedConfig:
    """Fallback 1: keep the most sensitive layers in float."""
    enabled: bool = True
    max_float_layers: int = 8
    sensitivity_eval: int = 300   # synthetic eval crops scored per layer (Paddle Inference)


@dataclass
class QATConfig:
    """Fallback 2: QAT with PACT, distilled from the float model (no labels)."""
    enabled: bool = True
    steps: int = 300
    lr: float = 0.0001
    batch_size: int = 16
    pool_size: int = 1024         # unlabeled synthetic crops (the calibration stream)


@dataclass
class GateConfig:
    max_drop_points: float = 0.3
    eval_synthetic: int = 600
    target: str = "arm64-emu"
    cpu: str = "cortex-a76"


@dataclass
class QuantRecipe:
    model: str = "ch_ppocr_mobile_v2.0_cls"
    task: str = "cls"
    quant: PTQConfig = field(default_factory=PTQConfig)
    mixed: MixedConfig = field(default_factory=MixedConfig)
    qat: QATConfig = field(default_factory=QATConfig)
    gate: GateConfig = field(default_factory=GateConfig)


ALGOS = {"KL", "hist", "avg", "mse", "emd", "abs_max", "min_max"}
ROUNDINGS = {"round", "adaround"}


def parse_algo(entry: str) -> tuple[str, str]:
    """'hist' -> ('hist', 'round'); 'hist+adaround' -> ('hist', 'adaround')."""
    algo, _, rounding = entry.partition("+")
    return algo, rounding or "round"


def _fill(cls, data, where: str, path: Path):
    if not isinstance(data, dict):
        raise LiteError(f"{path}: `{where}` must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise LiteError(f"{path}: unknown key `{where}.{key}`; known: {', '.join(fields)}")
        f = fields[key]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if dataclasses.is_dataclass(default):
            value = _fill(type(default), value, f"{where}.{key}".lstrip("."), path)
        elif (isinstance(default, bool) != isinstance(value, bool)) or not isinstance(value, type(default)) and not (
                isinstance(default, float) and isinstance(value, int)):
            raise LiteError(f"{path}: `{where}.{key}`: expected {type(default).__name__}, got {value!r}".replace("`.", "`"))
        kwargs[key] = value
    return cls(**kwargs)


def load_quant_recipe(path: str | Path | None, default_name: str = "cls_quant.yaml") -> QuantRecipe:
    path = Path(path) if path else RECIPES_DIR / default_name
    if not path.is_file():
        raise LiteError(f"{path}: no such recipe; copy one from recipes/ and edit it")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise LiteError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    r = _fill(QuantRecipe, data, "", path)
    bad = [a for a in r.quant.algos if not isinstance(a, str) or parse_algo(a)[0] not in ALGOS
           or parse_algo(a)[1] not in ROUNDINGS]
    if bad:
        raise LiteError(f"{path}: `quant.algos`: unknown algorithm {bad[0]!r}; use {', '.join(sorted(ALGOS))}, "
                        "optionally with +adaround (e.g. hist+adaround)")
    if not r.quant.algos:
        raise LiteError(f"{path}: `quant.algos` is empty; list at least one calibration algorithm")
    return r
