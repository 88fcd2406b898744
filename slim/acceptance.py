"""The acceptance targets of each default job (listed in the README), checked
on its report.json by `slim bench` (a benchmark command, never a timed test:
one run, ratios measured side by side). Accuracy targets are on the real
benchmark sets `slim bench` uses; a report gated on synthetic data fails them."""
from __future__ import annotations

from slim.report.schema import Report

OFFICIAL_PRUNED_HMEAN = 0.246   # ch_ppocr_mobile_v2.0_det_prune on the ICDAR 2015 test set (MANIFEST reference)
FLOAT_HMEAN_SUBSET = 0.238      # ch_ppocr_mobile_v2.0_det on img_1, img_6, ..., img_496 of it
OFFICIAL_SLIM_HMEAN = 0.253     # the official slim det .nb (v2.10-rc runtime) on the same 100 images


def _labelled(r: Report) -> bool:
    ft = r.extra.get("finetune") or (r.extra.get("pruning") or {}).get("finetune") or {}
    return ft.get("label_weight", 0) > 0


def _drop(r: Report) -> float:
    return round(100 * (r.baseline.metric_value - r.slim.metric_value), 4) if r.eval_set.real else float("inf")


def _det_accuracy(r: Report) -> tuple:
    if _labelled(r):
        return ("hmean of the pruned model, gate set, with labels (>=)", r.slim.metric_value if r.eval_set.real else 0,
                OFFICIAL_PRUNED_HMEAN, "official pruned det: 0.246", True)
    return ("hmean drop, gate set, label-free (points)", _drop(r), 0.5, "budget", False)


def _detq_accuracy(r: Report) -> tuple:
    value = r.slim.metric_value if r.eval_set.real else 0
    if _labelled(r):
        return ("hmean of the int8 ARM .nb, gate subset, with labels (>=)", value, OFFICIAL_SLIM_HMEAN,
                "official slim det .nb: 0.253", True)
    return ("hmean of the int8 ARM .nb, gate subset, label-free (>=)", value, FLOAT_HMEAN_SUBSET,
            "float model on these images: 0.238", True)


def _cold_time(limit: int, ref: str):
    """The whole job's time, a target only a cold run can meet: a rerun that
    read ARM gate scores, or a stage's result, from the cache did not do all
    of the job."""
    def row(r: Report) -> tuple:
        # what the report says it read: the quant jobs' gate scores, the prune job's stages
        reused = (["gate scores read"] if any(g.get("scored_before") for g in r.extra.get("gate") or []) else []) \
            + list(r.extra.get("cached") or [])
        if reused:
            return (f"whole job (s), a rerun: {', '.join(reused)} from the cache", r.seconds, limit,
                    "not timed: run with a fresh OCRSLIM_HOME", False, False)
        return "whole job (s)", r.seconds, limit, ref, False
    return row


# (label, value from the report, limit, reference, at least instead of at most); a callable row gives all five,
# and a sixth where the value alone does not decide (False: failed whatever the value)
TARGETS = {
    "cls-quant": [
        ("int8 ARM .nb bytes", lambda r: r.slim.nb_bytes_arm, 450_000, "official slim cls .nb: 438,582"),
        ("accuracy drop on the ARM .nb, real crops (points)", _drop, 0.3, "budget"),
        ("ARM instructions int8/float", lambda r: round(r.ratios["instructions"], 4), 1.0,
         "official slim cls .nb: 1.04x"),
        _cold_time(180, "3 minutes on the 2-core machine"),
    ],
    "det-prune": [
        ("pruned FLOPs / original", lambda r: round(r.ratios["flops"], 4), 0.5, "official pruned: 0.79x"),
        _det_accuracy,
        ("ARM instructions pruned/float", lambda r: round(r.ratios["instructions"], 4), 0.55,
         "one run, side by side"),
        ("x86 latency pruned/float (<= 1/1.6)", lambda r: round(r.ratios["latency_x86"], 4), 0.625,
         "PaddleSlim's recipe: -38%"),
        _cold_time(1800, "30 minutes on the 2-core machine"),
    ],
    "det-quant": [
        ("pruned + int8 ARM .nb bytes", lambda r: r.slim.nb_bytes_arm, 450_000,
         "half the official slim det .nb (892,326)"),
        _detq_accuracy,
    ],
    "rec-quant": [
        ("int8 ARM .nb bytes / float", lambda r: round(r.ratios["nb_bytes"], 4), 0.3, "a third of the float model"),
        ("word accuracy drop on the ARM .nb, real crops (points)", _drop, 1.0, "budget"),
        ("ARM instructions int8/float, Cortex-A76 kernels", lambda r: round(r.ratios["instructions"], 4), 0.8,
         "also reported: generic, Cortex-A53"),
    ],
}


def check(report: Report) -> list[dict]:
    rows = []
    for row in TARGETS.get(report.family_kind, []):
        decided = None
        if callable(row):
            label, value, limit, ref, at_least, *decided = row(report)
        else:
            label, get, limit, ref = row
            value, at_least = get(report), False
        passed = (value >= limit if at_least else value <= limit) if not decided else decided[0]
        rows.append({"target": label, "value": value, "limit": limit, "passed": passed, "reference": ref,
                     "at_least": at_least})
    return rows


def render(rows: list[dict]) -> str:
    out = [f"{'target':58s} {'measured':>12s} {'limit':>10s}  result  reference"]
    for r in rows:
        v = f"{r['value']:,}" if isinstance(r["value"], int) else f"{r['value']:g}"
        lim = f"{'>=' if r['at_least'] else '<='} {r['limit']:,}"
        out.append(f"{r['target']:58s} {v:>12s} {lim:>10s}  {'PASS' if r['passed'] else 'FAIL':6s}  {r['reference']}")
    return "\n".join(out)
