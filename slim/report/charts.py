"""The charts reports show (matplotlib, written as PNG beside report.md)."""
from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def layer_sensitivity_chart(sens: dict, kept_float: list, path: Path, metric: str) -> None:
    plt = _plt()
    names = list(sens)
    fig, ax = plt.subplots(figsize=(max(6, 0.18 * len(names)), 3.2))
    ax.bar(range(len(names)), [100 * sens[n] for n in names],
           color=["tab:red" if n in kept_float else "tab:blue" for n in names])
    ax.set_xticks(range(len(names)), [n.split(".")[0] for n in names], rotation=90, fontsize=6)
    ax.set_ylabel(f"{metric} drop, points")
    ax.set_title("only this layer int8 (red: kept float)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def prune_charts(report: dict, sens: dict, stage: Path) -> None:
    """sensitivity.png (drop per unit and ratio) and accuracy_vs_flops.png."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5))
    for unit, curve in sens.items():
        xs = sorted(curve, key=float)
        ax.plot([float(x) for x in xs], [100 * curve[x] for x in xs], marker=".", lw=1,
                label=unit.replace(".weight", "").replace("backbone.", ""))
    ax.set_xlabel("share of filters pruned")
    ax.set_ylabel("hmean drop (points)")
    ax.set_title(f"{report['model']}: sensitivity per unit")
    ax.legend(fontsize=5, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(stage / "sensitivity.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    synth = report["eval_set"]["gate_set"]
    pts = [("float", report["flops"]["float"], report["baseline"]["metric_value"]),
           ("pruned", report["flops"]["pruned"], report["slim"]["metric_value"])]
    ref = report.get("reference") or {}
    if "flops" in ref:
        pts.append(("official pruned", ref["flops"], ref["hmean_dygraph"][synth]))
    for label, f, h in pts:
        ax.scatter(f / 1e6, h)
        ax.annotate(label, (f / 1e6, h), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel(f"FLOPs (M, input {report['flops_input'][2]}x{report['flops_input'][3]})")
    ax.set_ylabel(f"hmean ({synth})")
    fig.tight_layout()
    fig.savefig(stage / "accuracy_vs_flops.png", dpi=110)
    plt.close(fig)


