"""report.md of a rec prune job, from its report.json."""
from __future__ import annotations


def render(r: dict) -> str:
    b, s = r["baseline"], r["slim"]
    rows = [("word accuracy on the ARM .nb (" + r["eval_set"]["name"] + ")", f"{b['metric_value']:.4f}",
             f"{s['metric_value']:.4f}", f"{-r['drop_points']:+.2f} pt (budget -{r['budget_drop_points']})"),
            *[(f"  {k}", f"{b['per_set'][k]['accuracy']:.4f}", f"{s['per_set'][k]['accuracy']:.4f}", "")
              for k in b["per_set"]],
            ("FLOPs (backbone convs, 1x3x32x320)", f"{r['flops']['float']:,}", f"{r['flops']['pruned']:,}",
             f"{r['ratios']['flops']:.3f}"),
            ("params", f"{r['params']['float']:,}", f"{r['params']['pruned']:,}",
             f"{r['params']['pruned'] / r['params']['float']:.3f}"),
            (".nb bytes (ARM)", f"{b['nb_bytes_arm']:,}", f"{s['nb_bytes_arm']:,}", f"{r['ratios']['nb_bytes']:.3f}"),
            (f"ARM instructions per run ({r['cpu']})", f"{b['instructions_per_run']:,}",
             f"{s['instructions_per_run']:,}", f"{r['ratios']['instructions']:.3f}")]
    lines = [f"# slim prune rec: {r['model']}", "", "| | float | pruned | ratio |", "|---|---|---|---|"]
    lines += [f"| {a} | {x} | {y} | {z} |" for a, x, y, z in rows]
    lines += ["", "Pruned units (channels kept):", ""]
    lines += [f"- `{u['unit']}`: {u['keep']} of {u['channels']}" for u in r["pruning_plan"]["units"]
              if u["keep"] < u["channels"]]
    lines += ["", f"Distillation: {r['finetune']['steps']} steps, final KL {r['finetune']['loss']}; "
              f"{'PASS' if r['passed'] else 'FAIL'}; {r['seconds']} s.", ""]
    return "\n".join(lines)
