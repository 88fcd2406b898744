"""Recipes: plain YAML a user can read and edit; each section maps onto one
config dataclass, and unknown or mistyped keys are named in the error."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lite.errors import LiteError

from slim.methods.ptq import ALGOS, ROUNDINGS, parse_algo

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def _default_strategy() -> list:
    from slim.methods.strategies import DEFAULT_STRATEGY

    return list(DEFAULT_STRATEGY)


@dataclass
class PTQConfig:
    method: str = "ptq"           # ptq: int8 arithmetic, with the fallbacks below; weight_only: only int8 weights
    # the methods tried in order until one keeps the budget (slim/methods/; each also has its `enabled`)
    strategy: list = field(default_factory=lambda: _default_strategy())
    algos: list = field(default_factory=lambda: ["KL", "hist", "avg", "mse", "emd", "abs_max", "min_max"])
    weight_quantize_type: str = "channel_wise_abs_max"
    calib_size: int = 128
    batch_size: int = 16
    # ops whose weights and inputs become int8; rec adds matmul_v2 (its CTC head)
    op_types: list = field(default_factory=lambda: ["conv2d", "depthwise_conv2d", "mul"])
    rnn_weights: str = "float"    # rec: "int8" stores the LSTM weights as int8 (dequantized on load)
    kernel_rewrites: bool = True  # exact rewrites onto Lite's fast ARM kernels (slim/graph/kernel_rewrites.py)
    equalize_dw: bool = False     # equalize depthwise-conv input channels on the calibration crops (slim/graph/dw_equalize.py)


@dataclass
class MixedConfig:
    """Fallback 1: keep the most sensitive layers in float."""
    enabled: bool = True
    max_float_layers: int = 8
    sensitivity_eval: int = 300   # synthetic eval crops scored per layer (Paddle Inference)
    scan_algo: str = ""           # calibration algorithm of the per-layer scan ("" = the best PTQ one)
    # what ranks the layers: "metric" (the task's metric drop on sensitivity_eval crops) or
    # "output" (mean |output - float output| on calibration crops: continuous, so no ties
    # where one word is a whole point)
    rank_by: str = "metric"
    max_nb_ratio: float = 0.0     # > 0: stop adding float layers before the .nb passes this share of the float one


@dataclass
class QATConfig:
    """Fallback 2: QAT, distilled from the float model; with labelled crops
    (`label_weight > 0`) the task's training loss is added (rec: CTC)."""
    enabled: bool = True
    steps: int = 300
    lr: float = 0.0001
    batch_size: int = 16
    pool_size: int = 1024         # crops of the calibration source (unlabelled: the calibration stream)
    pact: bool = True             # PACT: learned activation clipping
    label_weight: float = 0.0     # > 0: the labelled calibration crops (held-out selection crops excluded)
    keep_float: str = ""          # "mixed": the layers of the best mixed-precision candidate stay float
    init_scales: str = ""         # "ptq": activation scales start from the PTQ candidate QAT continues
    freeze_scales: bool = True    # with init_scales: keep them (else the moving average continues from them)
    anchor: float = 0.0           # share of each batch drawn from synthetic crops, distilled only: keeps
                                  # the student close to the float model beyond the labelled pool's domain


@dataclass
class WeightOnlyConfig:
    """Fallback 3: int8 weights with float arithmetic (opt's weight-only `.nb`:
    conv2d and fc weights stored int8 per output channel, dequantized when the
    model loads), rounded by GPTQ on the calibration crops (slim/methods/gptq.py).
    Pays in bytes, not in instructions: worth it where the kernel rewrites
    already make the float model cheap and int8 activations cost accuracy."""
    enabled: bool = False
    rounding: str = "gptq"        # gptq, or nearest (MSE-clipped scales, round to nearest)
    calib_size: int = 64          # calibration crops whose layer inputs weigh the rounding
    damp: float = 0.01            # GPTQ: share of the mean Hessian diagonal added to it


@dataclass
class GateConfig:
    max_drop_points: float = 0.3
    eval_synthetic: int = 600
    target: str = "arm64-emu"
    cpu: str = "cortex-a76"       # emulated CPU whose kernels run the instruction counts
    score_cpu: str = ""           # emulated CPU whose kernels the gate scores accuracy on ("" = cpu)
    limit_side_len: int = 960     # det: long side of eval images
    bench_shape: list = field(default_factory=list)  # input for ARM instructions / x86 latency; [] = task default
    nb_subset: int = 0            # > 0: the ARM .nb scores this many items spread evenly over the gate sets
    select_size: int = 600        # labelled calibration-side items that rank the candidates (never the gate set)
    prescreen_points: float = 1.0  # a candidate this far past the budget on Paddle Inference is not measured on ARM
    also_cpus: list = field(default_factory=list)    # more emulated CPUs to count instructions on
    case_insensitive: bool = False  # rec: gate on case-folded word accuracy
    metric: str = ""              # rec: accuracy (default), accuracy_alnum (the benchmarks' protocol) or norm_edit_dis


@dataclass
class DataConfig:
    """Where a job's images come from (slim/data/sources.py lists the forms a
    path may take). Empty: synthetic data, with a one-line notice that
    accuracy on real images is then not proven. The CLI's --images, --calib
    and --data override these."""
    images: str = ""              # det: photos for calibration, the pruning scan and the fine-tune pool
    calib: str = ""               # rec, cls: word crops for calibration (or photos with quads to cut them from)
    gate: list = field(default_factory=list)  # labelled sets the gate scores (det: photos; rec, cls: crops)
    synthetic: int = 0            # synthetic eval items reported beside real gate sets (a secondary row)


@dataclass
class QuantRecipe:
    model: str = "ch_ppocr_mobile_v2.0_cls"
    task: str = "cls"
    prune: str = ""               # a prune recipe to run first (det): the pruned model is quantized
    dictionary: str = ""          # rec: character dictionary (default: the zoo model's)
    quant: PTQConfig = field(default_factory=PTQConfig)
    mixed: MixedConfig = field(default_factory=MixedConfig)
    qat: QATConfig = field(default_factory=QATConfig)
    weight_only: WeightOnlyConfig = field(default_factory=WeightOnlyConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    data: DataConfig = field(default_factory=DataConfig)


@dataclass
class PruneConfig:
    method: str = "fpgm"          # PaddleSlim dygraph filter pruner: fpgm or l1
    flops_keep: float = 0.3       # pruned FLOPs <= this share of the original
    instructions_keep: float = 0.0  # > 0: also ARM instructions (emulated, eval.cpu, at input_size) <= this
                                    # share; the plan then orders its cuts by instructions saved
    ratios: list = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    max_ratio: float = 0.8        # no unit loses more than this share of its channels
    align: int = 8                # channel counts kept at multiples of this
    sensitivity_images: int = 32  # text-centred crops of the training photos scored per (unit, ratio)
    sensitivity_side: int = 320   # their side, at the detector's test scale
    input_size: int = 320         # side of the synthetic scenes (and of the FLOPs count)


@dataclass
class FinetuneConfig:
    steps: int = 400
    batch_size: int = 8
    lr: float = 0.001
    crop_size: int = 384          # training crops (PaddleOCR's DB recipe: scale, rotate, mirror, crop)
    holdout: int = 50             # training photos held out of the pool (scored in the report; never the gate set)
    pool_size: int = 512          # synthetic scenes when no photos are given
    checkpoint_every: int = 50
    label_weight: float = 0.0     # > 0 adds DB's probability-map loss on the photos' labels
    feature_weight: float = 0.0   # > 0 adds a hint loss on the neck's output (1x1 adapter to the teacher's)
    teacher_scale: float = 1.0    # det: the float model sees each photo this many times larger than at test
                                  # time; its maps, brought back to the test grid, are the targets


@dataclass
class PruneEvalConfig:
    """How a prune job gates: det on hmean through the x86 `.nb` (the ARM one
    agrees: nb_subset of the images scored on both), rec on the ARM `.nb`."""
    synthetic: int = 200          # synthetic eval items (fixed seed) when no labelled data is given
    max_drop_points: float = 0.5  # metric drop allowed on the gate set
    target: str = "arm64-emu"
    cpu: str = "cortex-a76"
    bench_shape: list = field(default_factory=lambda: [1, 3, 640, 640])
    limit_side_len: int = 960     # det: long side of the eval images
    nb_subset: int = 10           # det: images the ARM .nb scores beside the x86 one (evenly spread), to show it agrees
    case_insensitive: bool = False  # rec: gate on case-folded word accuracy


@dataclass
class PruneRecipe:
    model: str = "ch_ppocr_mobile_v2.0_det"
    task: str = "det"
    prune: PruneConfig = field(default_factory=PruneConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    eval: PruneEvalConfig = field(default_factory=PruneEvalConfig)
    data: DataConfig = field(default_factory=DataConfig)


@dataclass
class RecPruneRecipe:
    model: str = "en_number_mobile_v2.0_rec"
    task: str = "rec"
    dictionary: str = ""          # default: the zoo's dictionary for the model
    prune: PruneConfig = field(default_factory=lambda: PruneConfig(sensitivity_images=200, input_size=320))
    finetune: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(steps=600, batch_size=32, pool_size=4000))
    eval: PruneEvalConfig = field(default_factory=lambda: PruneEvalConfig(synthetic=500, max_drop_points=1.0,
                                                                          bench_shape=[1, 3, 32, 320]))
    data: DataConfig = field(default_factory=DataConfig)


def load_rec_prune_recipe(path: str | Path | None, default_name: str = "rec_prune.yaml") -> RecPruneRecipe:
    path = Path(path) if path else RECIPES_DIR / default_name
    r = _fill(RecPruneRecipe, _read_yaml(path), "", path)
    _check_prune(r.prune, path)
    return r


def _check_prune(p: PruneConfig, path: Path) -> None:
    if p.method not in ("fpgm", "l1"):
        raise LiteError(f"{path}: `prune.method`: unknown pruner {p.method!r}; use fpgm or l1")
    if not 0 < p.flops_keep < 1:
        raise LiteError(f"{path}: `prune.flops_keep` must lie between 0 and 1, got {p.flops_keep}")
    if not 0 <= p.instructions_keep < 1:
        raise LiteError(f"{path}: `prune.instructions_keep` must lie between 0 (off) and 1, got {p.instructions_keep}")
    if not p.ratios or any(not 0 < x < 1 for x in p.ratios):
        raise LiteError(f"{path}: `prune.ratios` must be a non-empty list of numbers between 0 and 1")


def load_prune_recipe(path: str | Path | None, default_name: str = "det_mobile_prune.yaml") -> PruneRecipe:
    path = Path(path) if path else RECIPES_DIR / default_name
    r = _fill(PruneRecipe, _read_yaml(path), "", path)
    _check_prune(r.prune, path)
    if r.finetune.teacher_scale < 1:
        raise LiteError(f"{path}: `finetune.teacher_scale` must be 1 (the test scale) or more, got {r.finetune.teacher_scale}")
    return r


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise LiteError(f"{path}: no such recipe; copy one from recipes/ and edit it")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise LiteError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None


def _fill(cls, data, where: str, path: Path, base=None):
    """`cls` from the YAML mapping `data`; keys it leaves out keep `base`'s
    values (a recipe's own defaults for a section, e.g. rec prune's eval), else the class's."""
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
            value = _fill(type(default), value, f"{where}.{key}".lstrip("."), path, base=default)
        elif (isinstance(default, bool) != isinstance(value, bool)) or not isinstance(value, type(default)) and not (
                isinstance(default, float) and isinstance(value, int)):
            raise LiteError(f"{path}: `{where}.{key}`: expected {type(default).__name__}, got {value!r}".replace("`.", "`"))
        kwargs[key] = value
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def _check_strategy(r: QuantRecipe, path: Path) -> None:
    from slim.methods.strategies import method_names

    if r.quant.method == "weight_only":  # no int8-arithmetic search at all
        r.quant.strategy = ["weight_only"]
    known = method_names()
    bad = [m for m in r.quant.strategy if m not in known]
    if bad or not r.quant.strategy:
        raise LiteError(f"{path}: `quant.strategy`: " + (f"unknown method {bad[0]!r}" if bad else "empty")
                        + f"; list some of {', '.join(known)}")
    s = r.quant.strategy
    if "mixed" in s and ("ptq" not in s or s.index("ptq") > s.index("mixed")):
        raise LiteError(f"{path}: `quant.strategy`: mixed starts from the best PTQ algorithm; put ptq before it")


def load_quant_recipe(path: str | Path | None, default_name: str = "cls_quant.yaml") -> QuantRecipe:
    from slim.families import FAMILIES, get_family

    path = Path(path) if path else RECIPES_DIR / default_name
    r = _fill(QuantRecipe, _read_yaml(path), "", path)
    r.source = path  # a prune recipe it names is looked up beside it
    try:
        family = get_family(r.task)
    except LiteError:
        raise LiteError(f"{path}: `task`: unknown task {r.task!r}; use {', '.join(sorted(FAMILIES))}") from None
    if r.prune and not family.prunable:
        raise LiteError(f"{path}: `prune` is for {', '.join(k for k, f in FAMILIES.items() if f.prunable)} "
                        "recipes; remove it")
    bad = [a for a in r.quant.algos if not isinstance(a, str) or parse_algo(a)[0] not in ALGOS
           or parse_algo(a)[1] not in ROUNDINGS]
    if bad:
        raise LiteError(f"{path}: `quant.algos`: unknown algorithm {bad[0]!r}; use {', '.join(sorted(ALGOS))}, "
                        "optionally with +adaround (e.g. hist+adaround)")
    if r.gate.metric and r.gate.metric not in family.metrics:
        raise LiteError(f"{path}: `gate.metric`: {r.gate.metric!r} is not a {r.task} metric; "
                        + (f"use {', '.join(family.metrics)}" if family.metrics else "remove it"))
    if r.mixed.rank_by not in ("metric", "output"):
        raise LiteError(f"{path}: `mixed.rank_by` is {r.mixed.rank_by!r}; use metric or output")
    if r.mixed.scan_algo and parse_algo(r.mixed.scan_algo)[0] not in ALGOS:
        raise LiteError(f"{path}: `mixed.scan_algo`: unknown algorithm {r.mixed.scan_algo!r}; use {', '.join(sorted(ALGOS))}")
    if r.quant.method not in ("ptq", "weight_only"):
        raise LiteError(f"{path}: `quant.method` is {r.quant.method!r}; use ptq or weight_only")
    _check_strategy(r, path)
    if r.weight_only.rounding not in ("gptq", "nearest"):
        raise LiteError(f"{path}: `weight_only.rounding` is {r.weight_only.rounding!r}; use gptq or nearest")
    if r.qat.keep_float not in ("", "mixed"):
        raise LiteError(f"{path}: `qat.keep_float` is {r.qat.keep_float!r}; use mixed, or \"\" for none")
    if r.qat.init_scales not in ("", "ptq"):
        raise LiteError(f"{path}: `qat.init_scales` is {r.qat.init_scales!r}; use ptq, or \"\" for QAT's own")
    if not 0 <= r.qat.anchor < 1:
        raise LiteError(f"{path}: `qat.anchor` is {r.qat.anchor}; use a share of the batch, at least 0 and below 1")
    if r.qat.label_weight < 0:
        raise LiteError(f"{path}: `qat.label_weight` is {r.qat.label_weight}; use 0 (distillation only) or more")
    if not r.quant.algos:
        raise LiteError(f"{path}: `quant.algos` is empty; list at least one calibration algorithm")
    return r
