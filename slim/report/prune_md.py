"""report.md of a det prune job, from its report.json."""
from __future__ import annotations


def render_md(r: dict) -> str:
    b, s = r["baseline"], r["slim"]
    e = r["eval_set"]
    gate = e["gate_set"]
    ref = r.get("reference") or {}
    synth = set(e.get("synthetic", []))
    ph, ft, sens = r["photos"], r["finetune"], r["sensitivity_set"]
    lines = [
        f"# slim prune: {r['model']}",
        "",
        f"Gate: hmean of the pruned model on {gate} ({e['gate_size']} images"
        f"{', synthetic' if gate in synth else ''}, long side {e['limit_side_len']}), through the x86 `.nb` "
        f"(the ARM `.nb` agrees: below), against the float model on the same images; budget "
        f"{r['budget_drop_points']} points: **{'PASS' if r['passed'] else 'FAIL'}** ({r['drop_points']:+.2f}"
        + (f"; drawing the images again moves it within {r['drop_interval']['low']:+.2f} to "
           f"{r['drop_interval']['high']:+.2f}, 95 %, {r['drop_interval']['method']}" if r.get("drop_interval") else "")
        + ").",
        "",
        f"Learned from: {ph['source']} ({'real photos' if ph['real'] else 'synthetic scenes: accuracy on real images is not proven'}; "
        f"{ph['pool']} in the pool, {ph['holdout']} held out"
        f"{', labels used' if ft['label_weight'] > 0 else ', no labels used'}). Sensitivity: {sens['crops']} text-centred "
        f"{sens['side']}-px crops scored against {sens['against']} ({sens['boxes']} boxes).",
        "",
        "| | float | pruned | ratio |" + (" official pruned |" if ref else ""),
        "|---|---|---|---|" + ("---|" if ref else ""),
        f"| FLOPs ({r['flops_input'][2]}x{r['flops_input'][3]}) | {r['flops']['float']:,} | {r['flops']['pruned']:,} | "
        f"{r['ratios']['flops']:.3f} |" + (f" {ref.get('flops', 0):,} |" if ref else ""),
        f"| params | {r['params']['float']:,} | {r['params']['pruned']:,} | "
        f"{r['params']['pruned'] / r['params']['float']:.3f} |" + (f" {ref.get('params', 0):,} |" if ref else ""),
    ]
    for name in b["per_set"]:
        bb, ss = b["per_set"][name], s["per_set"][name]
        row = (f"| hmean (P / R), {name}{', synthetic' if name in synth else ''} (x86 .nb) | {bb['hmean']:.4f} "
               f"({bb['precision']:.3f} / {bb['recall']:.3f}) | {ss['hmean']:.4f} ({ss['precision']:.3f} / "
               f"{ss['recall']:.3f}) | {100 * (ss['hmean'] - bb['hmean']):+.2f} pt |")
        if ref:
            row += f" {ref['hmean_dygraph'].get(name, float('nan')):.4f} (dygraph) |"
        lines.append(row)
    lines += _subset_rows(r, ref)
    lines += [
        f"| .nb bytes (ARM) | {b['nb_bytes_arm']:,} | {s['nb_bytes_arm']:,} | {r['ratios']['nb_bytes']:.3f} |"
        + (" |" if ref else ""),
        f"| ARM instructions / inference | {b['instructions_per_run']:,} | {s['instructions_per_run']:,} | "
        f"{r['ratios']['instructions']:.3f} |" + (" |" if ref else ""),
        f"| x86 latency ms (median, 1 thread) | {b['latency_ms']['median']:.2f} | {s['latency_ms']['median']:.2f} | "
        f"{r['ratios']['latency_x86']:.3f} |" + (" |" if ref else ""),
        "",
        f"Fine-tune: {ft['steps']} steps of distillation from the float model"
        + (f" seen at {ft['teacher_scale']:g}x the test scale (its maps on the whole photos, brought back to the "
           "test grid and cut with each crop)" if ft.get("teacher_scale", 1) != 1 else "")
        + f" (resumed from {ft['resumed_from']}) on "
        f"{ft['crop_size']}-px crops of {ft['pool']} ({ft['augment']})"
        + (f", plus DB's probability-map loss on the labels (weight {ft['label_weight']})" if ft["label_weight"] else "")
        + (f", plus a hint loss on the neck's output through a 1x1 adapter (weight {ft['feature_weight']})"
           if ft.get("feature_weight") else "")
        + f"; final loss {ft['loss']}. Whole job {r['seconds']} s"
        + (f" (the official pruned model's row, {ref['seconds']} s more, is timed apart)." if ref.get("seconds")
           else ".")
        + (f" A rerun: {', '.join(r['cached'])} came from the job cache, so this is not the job's time."
           if r.get("cached") else ""),
        "",
        "![sensitivity](sensitivity.png) ![accuracy vs FLOPs](accuracy_vs_flops.png)",
        "",
        f"## Pruning plan (summed scan loss {r['pruning_plan']['predicted_drop']:.3f}: each cut's {r['metric']} "
        "loss without fine-tuning, added over the units; it orders the cuts and is no forecast of the final drop)",
        "",
        "| unit | channels | kept | ratio |",
        "|---|---|---|---|",
    ]
    for u in r["pruning_plan"]["units"]:
        lines.append(f"| {u['unit']} | {u['channels']} | {u['keep']} | {u['ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def _subset_rows(r: dict, ref: dict) -> list[str]:
    """The ARM subset (three runtimes side by side) and the held-out training photos."""
    b, s = r["baseline"], r["slim"]
    lines = []
    bs, sb = b["subset"], s["subset"]
    lines.append(f"| hmean, {bs['size']} evenly spread images (ARM .nb / x86 .nb / Paddle Inference) | "
                 f"{bs['nb_arm']['hmean']:.4f} / {bs['nb_x86']:.4f} / {bs['inference']:.4f} | "
                 f"{sb['nb_arm']['hmean']:.4f} / {sb['nb_x86']:.4f} / {sb['inference']:.4f} | |" + (" |" if ref else ""))
    if r.get("holdout"):
        h = r["holdout"]
        lines.append(f"| hmean, {h['photos']} held-out training photos, against {h['against']} (dygraph) | "
                     f"{h['float']:.4f} | {h['pruned']:.4f} | |" + (" |" if ref else ""))
    return lines
