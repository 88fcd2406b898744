"""report.md of a quant job, from its report.json."""
from __future__ import annotations


def render_md(r: dict) -> str:
    what = "int8 weights, float arithmetic" if r["slim"]["method"] == "weight_only" else "int8"
    what += ", pruned first" if "pruning" in r else ""
    lines = _header(r) + _table(r, what) + _notes(r) + _candidates(r)
    return "\n".join(lines) + "\n"


def _header(r: dict) -> list[str]:
    metric = r["metric"]
    e = r["eval_set"]
    synth = set(e.get("synthetic", []))
    sets = ", ".join(f"{k} ({v} {e['unit']}{', synthetic' if k in synth else ''})" for k, v in e["parts"].items())
    lines = [f"# slim quant: {r['model']}", ""] + (
        [] if r.get("passed", True) else ["**FAIL: no candidate kept the budget; the closest is reported.**", ""]) + [
        f"Gate: {metric} of the ARM `.nb` (emulated, {r.get('gate_cpu', r['cpu'])} kernels) on {e['gate_size']} {e['unit']} of {e['gate_set']}"
        + (" (an evenly spread subset)" if e.get("nb_subset") else "") + f" against the float model on the same "
        f"{e['unit']} (its x86 `.nb`, which agrees with the ARM one); budget {r['budget_drop_points']} points. "
        f"Eval sets: {sets}. Calibrated on {r['data']['calibration']}"
        + ("" if r["data"]["calibration_real"] else " (synthetic: accuracy on real images is not proven)") + "; "
        + (f"candidates ranked on {r['selection_set']['size']} {e['unit']} held out of that ({r['selection_set']['name']})"
           if not r["selection_set"]["is_gate_set"] else "candidates ranked on the gate sets (no labelled "
           "calibration-side data was given)") + ".",
        "",
    ]
    return lines


def _table(r: dict, what: str) -> list[str]:
    b, s, e, metric = r["baseline"], r["slim"], r["eval_set"], r["metric"]
    synth = set(e.get("synthetic", []))
    lines = [
        f"| | float | {what} | ratio |",
        "|---|---|---|---|",
        f"| {metric}, gate ({e['gate_size']} {e['unit']}) | {b['metric_value']:.4f} | {s['metric_value']:.4f} | "
        f"drop {100 * (b['metric_value'] - s['metric_value']):+.2f} pt{_interval(r)} |",
        f"| {metric}, {e['gate_set']} in full (float: x86 .nb; {what}: Paddle Inference) | "
        f"{b['metric_value_x86']:.4f} | {s['metric_value_inference']:.4f} | "
        f"drop {100 * (b['metric_value_x86'] - s['metric_value_inference']):+.2f} pt |",
    ]
    for k, v in r["per_set"].items():
        lines.append(f"| {metric}, {k} ({v['size']}{', synthetic' if k in synth else ''}) | {v['float_nb_x86']:.4f} | "
                     f"{v['int8_inference']:.4f} | |")
    if r.get("official"):
        o = r["official"]
        lines.append(f"| official slim `.nb` ({o['name']}, opt {o['opt_version']}): {metric} on the gate "
                     f"{e['unit']} (ARM) / bytes | | {o['metric_value']:.4f} / {o['nb_bytes']:,} | |")
    lines += [
        f"| .nb bytes | {b['nb_bytes_arm']:,} | {s['nb_bytes_arm']:,} | {r['ratios']['nb_bytes']:.3f} |",
        f"| ARM instructions / inference ({'x'.join(map(str, r['bench_shape']))}, {r['cpu']}) | {b['instructions_per_run']:,} | "
        f"{s['instructions_per_run']:,} | {r['ratios']['instructions']:.3f} |",
        "",
        f"Float `.nb` latency on x86: {b['latency_ms_x86']['median']:.3f} ms (median, 1 thread).",
        f"Chosen: **{s['algo']}** ({s['method']}); layers kept in float: "
        f"{', '.join(s['float_layers']) if s['float_layers'] else 'none'}.",
        f"Whole job {r['seconds']} s" + (f" (the official slim `.nb`'s ARM run, {r['official']['seconds']} s, "
                                          "is not counted)." if r.get("official", {}).get("seconds") else "."),
        "",
    ]
    return lines


def _notes(r: dict) -> list[str]:
    b, s = r["baseline"], r["slim"]
    lines = []
    if "float_rewritten" in r:
        f = r["float_rewritten"]
        what = {"strided_depthwise": "stride-(2, 1) depthwise conv(s) run at stride 1, every second row kept "
                                     "(Lite's depthwise kernels take only equal strides)",
                "full_height_pools": "pool(s) as tall as their input given one more row (so Lite's NEON pool "
                                     "kernel takes them)"}
        lines += ["Of that, the exact kernel rewrites ("
                  + "; ".join(f"{n} {what.get(k, k)}" for k, n in f["layers"].items())
                  + f") give the float model {f['instructions_per_run']:,} instructions "
                  f"({f['instructions_per_run'] / b['instructions_per_run']:.3f}x)"
                  + ("; the weight-only .nb computes in float, so its gain is theirs." if s["method"] == "weight_only"
                     else "; int8 does the rest."), ""]
    if "instructions_other_cpus" in r:
        lines += ["ARM instructions on other kernel paths: " + "; ".join(
            f"{c}: {v['float']:,} -> {v['int8']:,} ({v['ratio']:.3f}x)" for c, v in r["instructions_other_cpus"].items()),
            ""]
    if "rec" in r:
        rc = r["rec"]
        lines += [f"Dictionary `{rc['dictionary']}` ({rc['classes']} classes, space {'on' if rc['use_space'] else 'off'}); "
                  f"input height {rc['height']}, width padded to max({rc['min_width']}, height x aspect) as predict_rec "
                  f"does; the `.nb` takes any width.", ""]
    if r.get("prepared"):
        what = {"scalar_affines": "scalar affine pair(s) folded into the convs beside them",
                "equalized_depthwise_inputs": "depthwise conv(s) with their input channels equalized on the "
                                              "calibration crops (slim/graph/dw_equalize.py)"}
        lines += ["Before calibration (exact in float): " + "; ".join(
            f"{n} {what.get(k, k)}" for k, n in r["prepared"].items()) + "."
            + (" The weight-only candidate starts before the equalization, which only int8 activations need."
               if s["method"] == "weight_only" and "equalized_depthwise_inputs" in r["prepared"] else ""), ""]
    if r["slim"]["float_layers"]:
        lines += ["![per-layer sensitivity](sensitivity.png)", ""]
    if s["method"] == "weight_only":
        lines += [f"Weight-only: {s['weight_only_ops']} conv2d / fc layers keep int8 weights (one scale per output "
                  "channel; the runtime dequantizes them when it loads the model), rounded by "
                  f"{s['rounding']['method']} on the calibration crops (slim/methods/gptq.py); depthwise convs stay float.", ""]
    if "pruning" in r:
        p = r["pruning"]
        lines += [f"Pruned first with `{p['recipe']}` ({p['finetune']['steps']} distillation steps); the pruned "
                  f"float model scores {p['metric_value_inference_pruned_float']:.4f} on Paddle Inference."
                  + (" That is already past the budget against the float model, so only the first method ran "
                     "(the others are bounded by the model they quantize)." if p.get("past_budget") else ""), ""]
    return lines


def _candidates(r: dict) -> list[str]:
    metric = r["metric"]
    lines = []
    lines += [
        f"## Candidates (Paddle Inference {metric} on {r['selection_set']['name']}; the gate measures the .nb)",
        "",
        f"| candidate | status | {metric} | .nb bytes |",
        "|---|---|---|---|",
    ]
    for c in r["search"]:
        acc = f"{c['accuracy_inference']:.4f}" if "accuracy_inference" in c else "-"
        lines.append(f"| {c['algo']} | {c['status']} | {acc} | {c.get('nb_bytes_arm', '-')} |")
    again = [g["algo"] for g in r.get("gate", []) if g.get("scored_before")]
    if again:
        lines += ["", "ARM gate scores read from the job cache (the same `.nb` bytes were scored on the same "
                  f"items before): {', '.join(again)}."]
    return lines


def _interval(r: dict) -> str:
    """The gate drop's 95 % paired-bootstrap interval, where the report has one."""
    d = r.get("drop_interval")
    return f" (95 %: {d['low']:+.2f} to {d['high']:+.2f}, redrawing the gate {r['eval_set']['unit']})" if d else ""
