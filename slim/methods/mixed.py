"""Mixed precision, the first fallback of `slim quant`: the layers the
per-layer scan ranks most sensitive stay float, one more at a time, until a
candidate keeps the budget on Paddle Inference and then on its ARM `.nb`.
Candidates are independent, so the next ones are built in worker processes
while the current one is judged; while the ARM gate runs (it needs every
core) queued builds are dropped and one under way drops to the lowest CPU
priority, and the workers start again only if the gate fails."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lite.errors import LiteError

from slim.methods.base import Candidate, Method, QuantContext, register_method
from slim.graph.quant_cut import CannotCut, dequantize_layers
from slim.methods.compile import compile_arm, prepare, score_int8
from slim.methods.layer_sensitivity import sensitivity
from slim.methods.ptq import quant_post_static
from slim.methods.ptq import parse_algo
from slim.workers import MAX_PAYLOAD, call, cores, log, payload_bytes, phase_pool, wind_down


@dataclass
class _Build:
    """What building and ranking one candidate needs (picklable)."""
    source: Path
    work: Path
    calib: np.ndarray
    algo: str
    rounding: str | None
    recipe: object                # slim.recipe.QuantRecipe
    task: object
    rank: object
    full: Path | None = None      # PTQ's output with every layer int8, to cut candidates from

    def candidate(self, k: int, skip: list, tag: str = "") -> dict:
        qdir = prepare(self.task, self._quantized(self.work / f"mixed_{k}{tag}", skip), self.recipe)
        nb, int8_ops = compile_arm(qdir, self.work / f"mixed_{k}{tag}.nb")
        acc = score_int8(self.task, qdir, self.rank, self.recipe)
        return Candidate("", "ok", "mixed", acc, int8_ops, nb.stat().st_size, str(qdir), str(nb), skip)

    def _quantized(self, out: Path, skip: list) -> Path:
        """PaddleSlim's PTQ with `skip` float: cut from the fully quantized
        model where there is one (the same program, without a calibration)."""
        q = self.recipe.quant
        if self.full is not None:
            try:
                return dequantize_layers(self.full, self.source, set(skip).__contains__, q.op_types, out)
            except CannotCut:
                shutil.rmtree(out, ignore_errors=True)
        return quant_post_static(self.source, out, self.calib, self.algo, q.weight_quantize_type, q.batch_size,
                                 skip=skip, round_type=self.rounding, op_types=q.op_types)


class _Builders:
    """Candidates k = 1, 2, ... built ahead by worker processes, handed out in order."""

    def __init__(self, build: _Build, order: list, workers: int):
        self.build, self.order, self.workers = build, order, workers
        self.pool, self.pending, self.generation = None, {}, 0

    def _fill(self, k: int) -> None:
        if self.pool is None:
            self.generation += 1
            self.pool = phase_pool(self.workers, self.build)
        for j in range(k, min(k + self.workers - 1, len(self.order)) + 1):
            if j not in self.pending:
                self.pending[j] = self.pool.submit(call, "candidate", j, self.order[:j], f"_{self.generation}")

    def get(self, k: int) -> Candidate:
        if self.workers <= 1:
            return self.build.candidate(k, self.order[:k])
        self._fill(k)
        return self.pending.pop(k).result()

    def stop(self) -> None:
        """Frees the cores for the ARM gate; a build under way writes into a
        folder no later build reuses (the generation tag)."""
        if self.pool is not None:
            wind_down(self.pool)
        self.pool, self.pending = None, {}


def mixed(recipe, task, source: Path, work: Path, calib, rank, base_acc: float, best: Candidate,
          float_bytes: int, gate, tried: list, workers: int | None = None) -> Candidate | None:
    """The first candidate, with the fewest float layers, that keeps the budget
    on Paddle Inference (`rank`) and then on the ARM gate; None if none does."""
    best_algo = best.algo
    # a fast algorithm may rank the layers when the best one is slow (mse on a 4,400-class head)
    scan_algo = recipe.mixed.scan_algo or best_algo
    a, rounding = parse_algo(best_algo)
    full = Path(best.frozen) if best.frozen and rounding == "round" else None  # learned rounding: per candidate
    sens = sensitivity(source, work, calib, scan_algo, recipe, task, full=full if scan_algo == best_algo else None)
    ranked = sorted(sens, key=lambda w: -sens[w])
    budget = recipe.gate.max_drop_points / 100.0
    room = recipe.mixed.max_nb_ratio * float_bytes - best.nb_bytes_arm if recipe.mixed.max_nb_ratio else np.inf
    order, passed = plan_float_layers(ranked, _weight_sizes(source), room, recipe.mixed.max_float_layers)
    if passed:
        log(f"  mixed: {len(passed)} sensitive layer(s) stay int8 to keep mixed.max_nb_ratio: {', '.join(passed)}")
    if workers is None:
        workers = cores(2) if payload_bytes(calib, rank) <= MAX_PAYLOAD else 1
    builders = _Builders(_Build(Path(source), Path(work), calib, a, rounding, recipe, task, rank, full), order,
                         min(workers, len(order)))
    try:
        for k in range(1, len(order) + 1):
            cand = builders.get(k)
            cand.algo = f"{best_algo} ({k} float)"
            cand.sensitivity = sens
            tried.append(cand)
            log(f"  mixed, {k} float layer(s) {order[k - 1]}: {task.metric} {cand.accuracy_inference:.4f} "
                "(Paddle Inference)")
            if cand.int8_ops and base_acc - cand.accuracy_inference <= budget + 1e-12:
                builders.stop()
                if gate.check(cand):
                    return cand
    finally:
        builders.stop()
    return None


def plan_float_layers(ranked: list[str], numel: dict[str, int], room: float,
                      limit: int) -> tuple[list[str], list[str]]:
    """The layers mixed precision keeps float, most sensitive first, up to
    `limit`; a float layer costs 3 bytes a weight more than its int8 form, so
    a layer that would take the .nb past `room` more bytes is passed over
    (second list) for the next ones that fit."""
    order, passed = [], []
    for w in ranked:
        if len(order) == limit:
            break
        if 3 * numel[w] > room:
            passed.append(w)
            continue
        room -= 3 * numel[w]
        order.append(w)
    return order, passed


def _weight_sizes(model_dir: Path) -> dict[str, int]:
    from slim.nets.weights import inference_params

    return {n: int(a.size) for n, a in inference_params(model_dir)}


@register_method
class Mixed(Method):
    name = "mixed"

    def after_failure(self, recipe) -> str:
        return f"no PTQ candidate within {recipe.gate.max_drop_points} points: mixed precision"

    def enabled(self, recipe) -> bool:
        return recipe.mixed.enabled

    def run(self, ctx: QuantContext) -> Candidate | None:
        if not ctx.ptq_ranked:
            raise LiteError("quant.strategy: mixed starts from the best PTQ algorithm; put ptq before it")
        return mixed(ctx.recipe, ctx.family, ctx.source, ctx.work, ctx.calib, ctx.select, ctx.base_acc,
                     ctx.ptq_ranked[0], ctx.float_nb_bytes(), ctx.gate, ctx.tried)
