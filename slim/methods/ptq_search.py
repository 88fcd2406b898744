"""PTQ with a calibration-algorithm search (`quant.algos`): each algorithm's
int8 model is compiled and ranked on Paddle Inference; the best ones, in
order, are gated on their ARM `.nb` until one keeps the budget."""
from __future__ import annotations

from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lite.errors import LiteError

from slim.methods.base import Candidate, Method, QuantContext, register_method
from slim.methods.compile import compile_arm, prepare, score_int8
from slim.methods.ptq import parse_algo, quant_post_static
from slim.workers import MAX_PAYLOAD, call, cores, log, payload_bytes, phase_pool


@dataclass
class _Build:
    """What building and ranking one algorithm's candidate needs (picklable)."""
    source: Path
    work: Path
    calib: np.ndarray
    recipe: object
    family: object
    select: object

    def candidate(self, entry: str) -> Candidate:
        """One algorithm's candidate (a failed build is a candidate with its reason)."""
        recipe, q = self.recipe, self.recipe.quant
        algo, rounding = parse_algo(entry)
        slug = entry.replace("+", "_")
        try:
            frozen = quant_post_static(self.source, self.work / slug, self.calib, algo, q.weight_quantize_type,
                                       q.batch_size, round_type=rounding, op_types=q.op_types)
            qdir = prepare(self.family, frozen, recipe)
            nb, int8_ops = compile_arm(qdir, self.work / f"{slug}.nb")
        except LiteError as e:
            return Candidate(entry, f"failed: {str(e)[:160]}")
        except Exception as e:  # noqa: BLE001 - a paddleslim bug in one algorithm must not end the search
            return Candidate(entry, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
        if not int8_ops:  # the .nb decides: a "quantized" model that compiles to float is no candidate
            return Candidate(entry, "no int8 kernels in the .nb", nb_bytes_arm=nb.stat().st_size)
        acc = score_int8(self.family, qdir, self.select, recipe)
        return Candidate(entry, "ok", "ptq", acc, int8_ops, nb.stat().st_size, str(qdir), str(nb),
                         frozen=str(frozen))


def build_all(ctx: QuantContext, entries: list[str], workers: int | None = None) -> list[Candidate]:
    """Every algorithm's candidate, in the recipe's order; they are
    independent, so they are built in worker processes, one per core."""
    b = _Build(Path(ctx.source), Path(ctx.work), ctx.calib, ctx.recipe, ctx.family, ctx.select)
    if workers is None:
        workers = cores(2) if payload_bytes(ctx.calib, ctx.select) <= MAX_PAYLOAD else 1
    workers = min(workers, len(entries))
    bar = tqdm(total=len(entries), desc="PTQ algorithm search", unit="algo")
    out: dict[str, Candidate] = {}

    def done(entry: str, cand: Candidate) -> None:
        out[entry] = cand
        if cand.ok:
            ctx.report_inference(cand)
        else:
            log(f"  {entry}: {cand.status}")
        bar.update()

    if workers <= 1:
        for e in entries:
            done(e, b.candidate(e))
    else:
        with phase_pool(workers, b) as pool:
            futures = {pool.submit(call, "candidate", e): e for e in entries}
            for f in as_completed(futures):
                done(futures[f], f.result())
    bar.close()
    return [out[e] for e in entries]


@register_method
class PTQSearch(Method):
    name = "ptq"

    def run(self, ctx: QuantContext) -> Candidate | None:
        ctx.tried.extend(build_all(ctx, list(ctx.recipe.quant.algos)))
        ok = sorted((c for c in ctx.tried if c.method == "ptq" and c.ok), key=lambda c: -c.accuracy_inference)
        if not ok:
            raise LiteError(f"{ctx.name}: no calibration algorithm produced an int8 .nb; "
                            "see quant.algos in the recipe")
        ctx.ptq_ranked = ok
        # best first; the first that passes wins (those Paddle Inference puts far over budget are not measured on ARM)
        return next((c for c in ok if ctx.within_reach(c.accuracy_inference) and ctx.gate.check(c)), None)
