"""The acceptance targets of each default job (listed in the README), checked
on its report.json by `slim bench` (a benchmark command, never a timed test:
one run, ratios measured side by side)."""
from __future__ import annotations

# (label, value from the report, limit, reference for comparison)
TARGETS = {
    "cls": [
        ("int8 ARM .nb bytes", lambda r: r["slim"]["nb_bytes_arm"], 450_000,
         "official slim cls .nb: 438,582"),
        ("accuracy drop on the ARM .nb (points)",
         lambda r: round(100 * (r["baseline"]["metric_value"] - r["slim"]["metric_value"]), 4), 0.3, "budget"),
        ("ARM instructions int8/float", lambda r: round(r["ratios"]["instructions"], 4), 1.0,
         "official slim cls .nb: 1.04x"),
        ("whole job (s)", lambda r: r["seconds"], 180, "3 minutes on the 2-core machine"),
    ],
    "det": [
        ("pruned FLOPs / original", lambda r: round(r["ratios"]["flops"], 4), 0.5, "official pruned: 0.79x"),
        ("hmean drop on the synthetic split, ARM .nb (points)", lambda r: round(r["drop_points"], 4), 0.5, "budget"),
        ("ARM instructions pruned/float", lambda r: round(r["ratios"]["instructions"], 4), 0.55,
         "one run, side by side"),
        ("x86 latency pruned/float (<= 1/1.6)", lambda r: round(r["ratios"]["latency_x86"], 4), 0.625,
         "PaddleSlim's recipe: -38%"),
        ("whole job (s)", lambda r: r["seconds"], 1800, "30 minutes on the 2-core machine"),
    ],
}


TARGETS["det-quant"] = [
    ("pruned + int8 ARM .nb bytes", lambda r: r["slim"]["nb_bytes_arm"], 900_000, "official slim det .nb: 892,326"),
    ("hmean drop vs the float .nb, synthetic split, ARM (points)",
     lambda r: round(100 * (r["baseline"]["metric_value"] - r["slim"]["metric_value"]), 4), 1.0, "budget"),
]


TARGETS["rec"] = [
    ("int8 ARM .nb bytes / float", lambda r: round(r["ratios"]["nb_bytes"], 4), 0.3, "a third of the float model"),
    ("word accuracy drop on the ARM .nb (points)",
     lambda r: round(100 * (r["baseline"]["metric_value"] - r["slim"]["metric_value"]), 4), 1.0, "budget"),
    ("ARM instructions int8/float, Cortex-A76 kernels", lambda r: round(r["ratios"]["instructions"], 4), 0.8,
     "also reported: generic, Cortex-A53"),
]


def kind(report: dict) -> str:
    """cls and det quantization reports carry a `search`; det pruning reports do not."""
    return report["task"] + ("-quant" if report["task"] == "det" and "search" in report else "")


def check(report: dict) -> list[dict]:
    rows = []
    for label, get, limit, ref in TARGETS[kind(report)]:
        value = get(report)
        rows.append({"target": label, "value": value, "limit": limit, "passed": value <= limit, "reference": ref})
    return rows


def render(rows: list[dict]) -> str:
    out = [f"{'target':42s} {'measured':>12s} {'limit':>10s}  result  reference"]
    for r in rows:
        v = f"{r['value']:,}" if isinstance(r["value"], int) else f"{r['value']:g}"
        out.append(f"{r['target']:42s} {v:>12s} {r['limit']:>10,}  {'PASS' if r['passed'] else 'FAIL':6s}  {r['reference']}")
    return "\n".join(out)
