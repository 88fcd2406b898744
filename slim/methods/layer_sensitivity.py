"""Per-layer quantization sensitivity for mixed precision: each layer
quantized alone and the damage measured on Paddle Inference. With plain
rounding the model is calibrated once and each one-layer model cut out of it
in memory (slim/graph/quant_cut.py: the same model PaddleSlim's PTQ gives
with every other layer skipped, in a fraction of the time); learned rounding
quantizes each layer alone. The layers are independent, so the scan runs in
worker processes, one per core; every result goes to the job cache as it
comes, and a rerun skips what is there."""
from __future__ import annotations

import json
import shutil
from concurrent.futures import as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lite.atomic import write_bytes
from lite.model_dir import ModelBuffers

from slim.cache import job_cache
from slim.graph.quant_cut import CannotCut, OneLayerCuts
from slim.methods.ptq import quant_post_static
from slim.families import get_family
from slim.methods.ptq import parse_algo
from slim.workers import call, cores, phase_pool

OUTPUT_PROBES = 32      # calibration crops whose outputs rank the layers (mixed.rank_by: output)
MAX_WORKERS = 4         # each worker holds a model and its calibration data


@dataclass
class _Scan:
    """What every worker needs to quantize one layer and score it (picklable)."""
    model_dir: Path
    work: Path
    calib: np.ndarray
    algo: str
    rounding: str | None
    recipe: object                # slim.recipe.QuantRecipe
    names: list
    judge: tuple  # ("output", probe feeds, float outputs) or ("metric", task, subset, float score)
    full: Path | None = None      # every layer quantized, to cut one-layer models from

    def damage(self, i: int, w: str) -> float:
        model = self._one_layer(i, w)
        try:
            if self.judge[0] == "output":
                _, probe, ref = self.judge
                return float(np.mean(np.abs(_outputs(model, probe) - ref)))
            _, task, subset, base = self.judge
            return base - task.score_inference(model, subset, self.recipe)
        finally:
            if isinstance(model, Path):
                shutil.rmtree(model, ignore_errors=True)

    def named_damage(self, i: int, w: str) -> tuple[str, float]:
        return w, self.damage(i, w)

    def _one_layer(self, i: int, w: str) -> ModelBuffers | Path:
        """Cut from the fully quantized model, in memory, where there is one; else PaddleSlim's PTQ with the others skipped."""
        q = self.recipe.quant
        if self.full is not None:
            try:
                return _cuts(self.full, self.model_dir, tuple(q.op_types)).model(w)
            except CannotCut:
                pass
        return quant_post_static(self.model_dir, self.work / f"sens_{i}", self.calib, self.algo,
                                 q.weight_quantize_type, q.batch_size, skip=[n for n in self.names if n != w],
                                 round_type=self.rounding, op_types=q.op_types)


@lru_cache(maxsize=1)
def _cuts(full: Path, model_dir: Path, op_types: tuple) -> OneLayerCuts:
    """One per process (each worker opens the quantized program once)."""
    return OneLayerCuts(full, model_dir, list(op_types))


def quantizable_weights(model_dir: Path, op_types: list[str]) -> list[str]:
    """Weights of the ops PTQ quantizes (conv filters, fc/matmul weights), in program order."""
    from slim.nets.weights import op_weights

    return [n for n, op in op_weights(model_dir) if op in op_types]


def sensitivity(model_dir: Path, work: Path, calib, algo: str, recipe,
                task=None, workers: int | None = None, full: Path | None = None) -> dict[str, float]:
    """Per layer, the damage done by quantizing only that layer: the metric
    drop on a fixed labelled subset (rank_by metric), or the mean absolute
    change of the model's output on calibration crops (rank_by output).
    `full`: PaddleSlim's output for `algo` with every layer quantized, when
    the caller has it (else it is made here)."""
    task = task or get_family(recipe.task)
    by_output = recipe.mixed.rank_by == "output"
    subset = None if by_output else task.sensitivity_set(recipe, recipe.mixed.sensitivity_eval)
    cache = job_cache(model_dir, "sensitivity", algo, len(calib), len(subset) if subset else "output",
                      recipe.quant.weight_quantize_type, recipe.quant.op_types, recipe.quant.rnn_weights) \
        / "sensitivity.json"
    sens = json.loads(cache.read_text()) if cache.is_file() else {}
    names = quantizable_weights(model_dir, recipe.quant.op_types)
    todo = [(i, w) for i, w in enumerate(names) if w not in sens]
    if not todo:
        return {w: sens[w] for w in names}
    if by_output:
        bs = recipe.quant.batch_size
        probe = [[calib[i:i + bs]] for i in range(0, min(len(calib), OUTPUT_PROBES), bs)]
        judge = ("output", probe, _outputs(model_dir, probe))
    else:
        judge = ("metric", task, subset, task.score_inference(str(model_dir), subset, recipe))
    a, rounding = parse_algo(algo)
    q = recipe.quant
    if rounding != "round":  # learned rounding fits each layer given the others, so it is not cut
        full = None
    elif full is None:
        full = quant_post_static(model_dir, Path(work) / f"sens_full_{a}", calib, a, q.weight_quantize_type,
                                 q.batch_size, op_types=q.op_types)
    scan = _Scan(Path(model_dir), Path(work), calib, a, rounding, recipe, names, judge, full)
    n = min(workers or cores(MAX_WORKERS), len(todo))
    bar = tqdm(total=len(names), initial=len(names) - len(todo), desc=f"per-layer sensitivity ({algo})",
               unit="layer")

    def done(w: str, d: float) -> None:
        sens[w] = d
        write_bytes(cache, json.dumps(sens, indent=1).encode())
        bar.update()

    if n <= 1:
        for i, w in todo:
            done(w, scan.damage(i, w))
    else:
        with phase_pool(n, scan) as pool:
            for f in as_completed([pool.submit(call, "named_damage", i, w) for i, w in todo]):
                done(*f.result())
    bar.close()
    return {w: sens[w] for w in names}


def _outputs(model: Path | ModelBuffers, feeds: list) -> np.ndarray:
    from lite.parity import paddle_inference

    model = model if isinstance(model, ModelBuffers) else str(model)
    return np.concatenate([next(iter(o.values())) for o in paddle_inference(model, feeds, ir_optim=True)])
