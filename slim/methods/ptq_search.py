"""PTQ with a calibration-algorithm search (`quant.algos`): each algorithm's
int8 model is compiled and ranked on Paddle Inference; the best ones, in
order, are gated on their ARM `.nb` until one keeps the budget."""
from __future__ import annotations

from tqdm import tqdm

from lite.errors import LiteError

from slim.methods.base import Candidate, Method, QuantContext, register_method
from slim.methods.compile import compile_arm, prepare
from slim.methods.ptq import quant_post_static
from slim.methods.ptq import parse_algo


def build(ctx: QuantContext, entry: str) -> Candidate:
    """One algorithm's candidate (a failed build is a candidate with its reason)."""
    recipe, q = ctx.recipe, ctx.recipe.quant
    algo, rounding = parse_algo(entry)
    slug = entry.replace("+", "_")
    try:
        qdir = quant_post_static(ctx.source, ctx.work / slug, ctx.calib, algo, q.weight_quantize_type, q.batch_size,
                                 round_type=rounding, op_types=q.op_types)
        qdir = prepare(ctx.family, qdir, recipe)
        nb, int8_ops = compile_arm(qdir, ctx.work / f"{slug}.nb")
    except LiteError as e:
        return Candidate(entry, f"failed: {str(e)[:160]}")
    except Exception as e:  # noqa: BLE001 - a paddleslim bug in one algorithm must not end the search
        return Candidate(entry, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
    if not int8_ops:  # the .nb decides: a "quantized" model that compiles to float is no candidate
        return Candidate(entry, "no int8 kernels in the .nb", nb_bytes_arm=nb.stat().st_size)
    acc = ctx.family.score_inference(str(qdir), ctx.select, recipe)
    cand = Candidate(entry, "ok", "ptq", acc, int8_ops, nb.stat().st_size, str(qdir), str(nb))
    ctx.report_inference(cand)
    return cand


@register_method
class PTQSearch(Method):
    name = "ptq"

    def run(self, ctx: QuantContext) -> Candidate | None:
        for entry in tqdm(ctx.recipe.quant.algos, desc="PTQ algorithm search", unit="algo"):
            ctx.tried.append(build(ctx, entry))
        ok = sorted((c for c in ctx.tried if c.method == "ptq" and c.ok), key=lambda c: -c.accuracy_inference)
        if not ok:
            raise LiteError(f"{ctx.name}: no calibration algorithm produced an int8 .nb; "
                            "see quant.algos in the recipe")
        ctx.ptq_ranked = ok
        # best first; the first that passes wins (those Paddle Inference puts far over budget are not measured on ARM)
        return next((c for c in ok if ctx.within_reach(c.accuracy_inference) and ctx.gate.check(c)), None)
