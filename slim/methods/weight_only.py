"""int8 weights with float arithmetic (opt's weight-only `.nb`): conv2d and
fc weights stored int8 per output channel and dequantized when the model
loads, rounded by GPTQ or to nearest on the calibration crops (slim/methods/gptq.py).
It starts from the float model before depthwise equalization, which only
int8 activations need."""
from __future__ import annotations

from lite.nbfile import read_nb
from lite.opt import opt

from slim.methods.base import Candidate, Method, QuantContext, register_method
from slim.methods.compile import prepare
from slim.workers import log


@register_method
class WeightOnly(Method):
    name = "weight_only"

    def after_failure(self, recipe) -> str:
        return "no int8-arithmetic candidate kept the budget: int8 weights, float arithmetic"

    def enabled(self, recipe) -> bool:
        return recipe.weight_only.enabled or recipe.quant.method == "weight_only"

    def run(self, ctx: QuantContext) -> Candidate | None:
        from slim.methods.gptq import gptq_round_model

        recipe, wo = ctx.recipe, ctx.recipe.weight_only
        qdir, stats = gptq_round_model(ctx.float_source, ctx.work / "weight_only", ctx.calib[:wo.calib_size],
                                       wo.damp, recipe.quant.batch_size, wo.rounding)
        # the family's storage rewrite applies (rec: the BiLSTM's weights stored int8, rebuilt
        # in float when the model runs): it is weight-only itself
        qdir = prepare(ctx.family, qdir, recipe)
        nb = opt(qdir, target="arm", out=ctx.work / "weight_only.nb", quant_weights="int8")
        n = read_nb(nb).weight_only_ops
        acc = ctx.family.score_inference(str(qdir), ctx.select, recipe)
        cand = Candidate(f"weight-only int8 ({wo.rounding})", "ok" if n else "no int8 weights in the .nb",
                         "weight_only", acc, 0, nb.stat().st_size, str(qdir), str(nb),
                         extra={"weight_only_ops": n, "rounding": stats})
        ctx.tried.append(cand)
        log(f"  weight-only int8 ({wo.rounding}, {n} layers): {ctx.family.metric} {acc:.4f} "
            f"(drop {100 * (ctx.base_acc - acc):+.2f} points, Paddle Inference)")
        return cand if n and ctx.within_reach(acc) and ctx.gate.check(cand) else None
