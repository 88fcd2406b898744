"""`slim quant cls`: PTQ with a calibration-algorithm search, gated on the
accuracy of the compiled ARM `.nb` itself."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from lite.atomic import atomic_dir
from lite.bench import bench, compare
from lite.errors import LiteError
from lite.evaluate import eval_inference, eval_nb
from lite.nbfile import read_nb
from lite.ocr.cls import preprocess
from lite.opt import opt
from lite.paths import shared_dir

from .data import cls_data
from .data.readers import ListReader
from .ptq import calibration_arrays, quant_post_static
from .recipe import QuantRecipe
from .zoo import resolve

SHAPES = {"x": (1, 3, 48, 192)}


def _log(msg: str) -> None:
    tqdm.write(msg, file=sys.stderr)


def eval_sets(recipe: QuantRecipe, data: str | None) -> list[ListReader]:
    if data:
        return [cls_data.user_data(data)]
    sets = [cls_data.synthetic(recipe.gate.eval_synthetic, "eval")]
    real = cls_data.real_crops(shared_dir())
    if real is not None:
        sets.append(real)
    return sets


def run(recipe: QuantRecipe, model: str | None = None, data: str | None = None,
        out: str | None = None) -> dict:
    t0 = time.time()
    name, model_dir = resolve(model or recipe.model)
    out_dir = Path(out or f"output/slim_quant_{name}")
    sets = eval_sets(recipe, data)
    joined = ListReader("+".join(s.name for s in sets), [it for s in sets for it in s])
    calib = calibration_arrays(cls_data.synthetic(recipe.quant.calib_size, "calib"), preprocess,
                               recipe.quant.calib_size)
    budget = recipe.gate.max_drop_points / 100.0
    with tempfile.TemporaryDirectory(prefix="slimq.") as work, atomic_dir(out_dir) as stage:
        work = Path(work)
        base_acc = eval_inference(str(model_dir), joined)["value"]
        _log(f"float {name}: accuracy {base_acc:.4f} on {len(joined)} crops (Paddle Inference)")
        candidates = []
        for algo in tqdm(recipe.quant.algos, desc="PTQ algorithm search", unit="algo"):
            try:
                qdir = quant_post_static(model_dir, work / algo, calib, algo,
                                         recipe.quant.weight_quantize_type, recipe.quant.batch_size)
                nb = opt(qdir, target="arm", out=work / f"{algo}.nb")
            except Exception as e:  # noqa: BLE001 - one algorithm failing must not end the search
                candidates.append({"algo": algo, "status": f"failed: {str(e).splitlines()[0][:120]}"})
                continue
            info = read_nb(nb)
            int8_ops = sum(1 for op in info.ops if op.precision == "int8")
            if not int8_ops:  # the .nb decides: a "quantized" model that compiles to float is no candidate
                candidates.append({"algo": algo, "status": "no int8 kernels in the .nb", "nb_bytes_arm": info.bytes})
                continue
            acc = eval_inference(str(qdir), joined)["value"]
            candidates.append({"algo": algo, "status": "ok", "accuracy_inference": acc, "int8_ops": int8_ops,
                               "nb_bytes_arm": info.bytes, "dir": str(qdir), "nb": str(nb)})
            _log(f"  {algo}: accuracy {acc:.4f} (drop {100 * (base_acc - acc):+.2f} points)")
        ok = sorted((c for c in candidates if c["status"] == "ok"), key=lambda c: -c["accuracy_inference"])
        if not ok:
            raise LiteError(f"{name}: no calibration algorithm produced an int8 .nb; see the algorithms in the recipe")

        # Float baselines on the compiled .nb: x86 and emulated ARM, same eval set.
        float_arm = opt(model_dir, target="arm", out=stage / f"{name}_float_arm.nb")
        float_x86 = opt(model_dir, target="x86", out=stage / f"{name}_float_x86.nb")
        def eval_arm(nb: Path, label: str) -> tuple[float, dict]:
            """Accuracy over all sets, and per set, from one pass over each set."""
            per = {s.name: eval_nb(str(nb), s, target=recipe.gate.target, desc=f"{label} .nb on ARM: {s.name}")["value"]
                   for s in sets}
            return sum(per[s.name] * len(s) for s in sets) / len(joined), per

        base_arm, base_per = eval_arm(float_arm, "float")
        base_x86 = eval_nb(str(float_x86), joined, target="x86", desc="float .nb on x86")["value"]

        chosen, gate_log = None, []
        for c in ok:  # best first; the first that passes on the .nb wins
            acc_nb, per = eval_arm(Path(c["nb"]), f"int8 ({c['algo']})")
            drop = base_arm - acc_nb
            gate_log.append({"algo": c["algo"], "accuracy_nb_arm": acc_nb, "drop_points": 100 * drop,
                             "passed": drop <= budget + 1e-12})
            _log(f"  gate {c['algo']}: ARM .nb accuracy {acc_nb:.4f}, drop {100 * drop:+.2f} points")
            if drop <= budget + 1e-12:
                chosen = dict(c, accuracy_nb_arm=acc_nb, per_set=per)
                break
        if chosen is None:
            raise LiteError(f"{name}: no int8 .nb kept the accuracy drop within {recipe.gate.max_drop_points} points "
                            f"(best {min(g['drop_points'] for g in gate_log):.2f}); mixed precision and QAT "
                            "fallbacks are not in this version")

        slim_nb = stage / f"{name}_int8_arm.nb"
        shutil.copy(chosen["nb"], slim_nb)
        shutil.copytree(chosen["dir"], stage / "inference_int8")
        cost = compare(str(float_arm), str(slim_nb), target=recipe.gate.target, repeats=3, shapes=SHAPES,
                       cpu=recipe.gate.cpu)
        lat = bench(str(float_x86), target="x86", repeats=30, shapes=SHAPES)
        per_set = {s.name: {"size": len(s), "float_nb_arm": base_per[s.name], "int8_nb_arm": chosen["per_set"][s.name]}
                   for s in sets}
        report = {
            "model": name, "task": "cls", "metric": "accuracy",
            "eval_set": {"name": joined.name, "size": len(joined),
                         "parts": {s.name: len(s) for s in sets}, "skipped_images": sum(s.skipped for s in sets)},
            "cpu": recipe.gate.cpu,
            "budget_drop_points": recipe.gate.max_drop_points,
            "baseline": {"metric_value": base_arm, "metric_value_x86": base_x86,
                         "metric_value_inference": base_acc, "nb_bytes_arm": float_arm.stat().st_size,
                         "instructions_per_run": cost["a"]["instructions_per_run"],
                         "latency_ms_x86": lat["latency_ms"]},
            "slim": {"metric_value": chosen["accuracy_nb_arm"], "metric_value_inference": chosen["accuracy_inference"],
                     "nb_bytes_arm": slim_nb.stat().st_size,
                     "instructions_per_run": cost["b"]["instructions_per_run"], "algo": chosen["algo"],
                     "float_layers": [], "int8_ops": chosen["int8_ops"]},
            "ratios": {"nb_bytes": slim_nb.stat().st_size / float_arm.stat().st_size,
                       "instructions": cost["ratio"]},
            "per_set": per_set,
            "search": [{k: v for k, v in c.items() if k not in ("dir", "nb")} for c in candidates],
            "gate": gate_log,
            "seconds": round(time.time() - t0, 1),
        }
        (stage / "report.json").write_text(json.dumps(report, indent=2))
        (stage / "report.md").write_text(render_md(report))
    return report


def render_md(r: dict) -> str:
    b, s = r["baseline"], r["slim"]
    lines = [
        f"# slim quant: {r['model']}",
        "",
        f"Eval set: {r['eval_set']['name']} ({r['eval_set']['size']} crops). Accuracy measured on the ARM `.nb` "
        f"(emulated {r['cpu']}), budget {r['budget_drop_points']} points.",
        "",
        "| | float | int8 | ratio |",
        "|---|---|---|---|",
        f"| accuracy (ARM .nb) | {b['metric_value']:.4f} | {s['metric_value']:.4f} | drop {100 * (b['metric_value'] - s['metric_value']):+.2f} pt |",
        f"| .nb bytes | {b['nb_bytes_arm']:,} | {s['nb_bytes_arm']:,} | {r['ratios']['nb_bytes']:.3f} |",
        f"| ARM instructions / inference | {b['instructions_per_run']:,} | {s['instructions_per_run']:,} | {r['ratios']['instructions']:.3f} |",
        "",
        f"Float `.nb` on x86: accuracy {b['metric_value_x86']:.4f}, latency {b['latency_ms_x86']['median']:.3f} ms (median, 1 thread).",
        f"Chosen calibration: **{s['algo']}**.",
        "",
        "## Algorithm search (Paddle Inference accuracy; the gate re-measures on the .nb)",
        "",
        "| algo | status | accuracy | .nb bytes |",
        "|---|---|---|---|",
    ]
    for c in r["search"]:
        acc = f"{c['accuracy_inference']:.4f}" if "accuracy_inference" in c else "-"
        lines.append(f"| {c['algo']} | {c['status']} | {acc} | {c.get('nb_bytes_arm', '-')} |")
    return "\n".join(lines) + "\n"
