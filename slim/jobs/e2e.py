"""`slim e2e`: the float OCR system against the slim bundle, end to end.

Both bundles run the same pipeline (lite/ocr/system.py) on the emulated ARM
target with instruction counting, so the only difference is the models;
the float bundle also runs on Paddle Inference as a check on the `.nb`.
Per set: detection hmean, end-to-end F-score, ARM instructions per image
for each stage; then the system's acceptance targets and side-by-side pictures.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import cv2
import numpy as np

from lite import paths
from lite.atomic import atomic_dir, write_bytes
from lite.bundle import open_bundle
from lite.errors import LiteError
from lite.ocr.app import PADDLE, engines_factory
from lite.ocr.e2e_metric import evaluate_system
from lite.ocr.system import STAGES, run_many
from lite.targets import is_emulated

TARGET = "arm64-emu"
# The system's acceptance targets (v2.0 mobile system; the official slim bundle is 3.3 MB).
MAX_NB_BYTES = 3_300_000
MAX_F_DROP_POINTS = 1.0
MAX_INSTR_RATIO = 0.5


def _sets(data: list[str] | str | None, synthetic: int) -> list:
    """What the systems are scored on: the user's labelled photos (--data);
    else the ICDAR 2015 test set of the benchmark data (../shared) where it
    is; else synthetic scenes, with a notice."""
    from slim.data import sources
    from slim.data.det_data import labelled, synthetic as scenes

    if data:
        return [labelled(d) for d in ([data] if isinstance(data, str) else data)]
    from slim.data import benchsets

    test = paths.shared_dir() / "data" / benchsets.DET_TEST
    if test.is_dir():
        return [labelled(test)]
    sources.fallback("labelled photos", "--data", "gate")
    if not synthetic:
        raise LiteError("nothing to evaluate: give --data (labelled photos), or --synthetic N > 0")
    return [scenes(synthetic, "eval", (320, 320))]


def _digest(reader) -> str:
    h = hashlib.sha256()
    for img, gt in reader:
        h.update(np.ascontiguousarray(img).tobytes())
        h.update(json.dumps(gt, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _results(bundle, reader, target: str, cpu: str, label: str) -> list[dict]:
    """The system's output on every image, cached by bundle, target and data
    so an interrupted run resumes where it stopped."""
    key = hashlib.sha256(json.dumps([bundle.manifest, target, cpu, _digest(reader)], sort_keys=True).encode())
    cache = paths.home() / "e2e" / f"{key.hexdigest()[:24]}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    images = [img for img, _ in reader]
    res = run_many(images, engines_factory(bundle, target, cpu, count=target != PADDLE), bundle.charset(),
                   bundle.params(), workers=2 if is_emulated(target) else 1, desc=f"{label} on {target}")
    out = [r.to_json() for r in res]
    write_bytes(cache, json.dumps(out).encode())
    return out


def _instructions(results: list[dict]) -> dict:
    n = max(len(results), 1)
    per = {s: sum(r["instructions"][s] for r in results) / n for s in STAGES}
    per["total"] = sum(per[s] for s in STAGES)
    per["crops"] = sum(len(r["det_boxes"]) for r in results) / n
    return per


def run(slim: str = "output/bundle", float_: str = "output/bundle_float", data: list[str] | str | None = None,
        synthetic: int = 0, out: str = "output/e2e", cpu: str = "cortex-a76", subset: int = 100) -> dict:
    """Both bundles on emulated ARM (instructions counted per stage) on
    `subset` images spread evenly over each set; both on Paddle Inference on
    every image (the int8 models' fake-quant graphs agree with their `.nb`)."""
    from lite.readers import evenly

    t0 = time.time()
    bundles = {"float": open_bundle(float_), "slim": open_bundle(slim)}
    if bundles["float"].root.resolve() == bundles["slim"].root.resolve():
        raise LiteError(f"{slim}: the float and slim bundles are the same dir; give --float and --slim")
    sets = _sets(data, synthetic)
    report = {"bundles": {k: {"path": str(b.root), "nb_bytes": b.nb_bytes, "note": b.manifest.get("note", ""),
                              "models": {s: {f: m[f] for f in ("model", "bytes", "precision", "opt_version")}
                                         for s, m in b.manifest["models"].items()}}
                          for k, b in bundles.items()},
              "target": TARGET, "cpu": cpu, "subset": subset, "sets": {}}
    everything = {k: ([], []) for k in ("float", "slim")}
    pictures = []
    for full in sets:
        reader = evenly(full, subset, f"{full.name}-arm{subset}" if subset and subset < len(full) else full.name)
        gts = [gt for _, gt in reader]
        row = {"images": len(reader), "of": len(full), "lines_gt": sum(len(g) for g in gts)}
        results = {}
        for k, b in bundles.items():
            results[k] = _results(b, reader, TARGET, cpu, f"{k} {reader.name}")
            row[k] = evaluate_system(gts, results[k])
            row[k]["instructions_per_image"] = _instructions(results[k])
            everything[k][0].extend(gts)
            everything[k][1].extend(results[k])
            if all("inference" in m for m in b.manifest["models"].values()):
                pi = _results(b, full, PADDLE, cpu, f"{k} {full.name}")
                row[f"{k}_paddle_inference_all"] = evaluate_system([gt for _, gt in full], pi)
        report["sets"][full.name] = row
        pictures += _pick(reader, results, 2)
    total = {"images": sum(r["images"] for r in report["sets"].values())}
    for k, (gts, res) in everything.items():
        total[k] = evaluate_system(gts, res)
        total[k]["instructions_per_image"] = _instructions(res)
    report["total"] = total
    fi, si = total["float"]["instructions_per_image"], total["slim"]["instructions_per_image"]
    report["ratios"] = {"nb_bytes": bundles["slim"].nb_bytes / bundles["float"].nb_bytes,
                        "instructions": si["total"] / fi["total"] if fi["total"] else float("nan"),
                        **{f"instructions_{s}": si[s] / fi[s] if fi[s] else float("nan") for s in STAGES}}
    drop = 100 * (total["float"]["e2e"]["fscore"] - total["slim"]["e2e"]["fscore"])
    report["targets"] = [
        {"name": "slim bundle .nb bytes", "value": bundles["slim"].nb_bytes, "limit": f"<= {MAX_NB_BYTES:,}",
         "passed": bundles["slim"].nb_bytes <= MAX_NB_BYTES},
        {"name": "end-to-end F-score drop (points, the ARM images)", "value": round(drop, 2),
         "limit": f"<= {MAX_F_DROP_POINTS}", "passed": drop <= MAX_F_DROP_POINTS},
        {"name": f"ARM instructions per image, slim / float ({cpu})", "value": round(report["ratios"]["instructions"], 4),
         "limit": f"<= {MAX_INSTR_RATIO}", "passed": report["ratios"]["instructions"] <= MAX_INSTR_RATIO}]
    report["seconds"] = round(time.time() - t0, 1)
    out = Path(out)
    with atomic_dir(out) as stage:
        names = _draw(pictures, stage)
        (stage / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        (stage / "report.md").write_text(render(report, names), encoding="utf-8")
    return report


def _pick(reader, results: dict, k: int) -> list:
    """Up to `k` images of a set where the float system reads something, most lines first."""
    ranked = sorted(range(len(reader)), key=lambda i: -len(results["float"][i]["lines"]))[:k]
    items = list(reader)
    return [(reader.name, i, items[i][0], results["float"][i]["lines"], results["slim"][i]["lines"])
            for i in ranked if results["float"][i]["lines"] or results["slim"][i]["lines"]]


def _draw(pictures: list, stage: Path) -> list[str]:
    from lite.ocr.draw import annotate

    names = []
    for set_name, i, img, flines, slines in pictures:
        pic = np.concatenate([annotate(img, flines, "float"), np.full((img.shape[0], 12, 3), 255, np.uint8),
                              annotate(img, slines, "slim")], axis=1)
        name = f"compare_{set_name}_{i}.jpg"
        cv2.imwrite(str(stage / name), pic)
        names.append(name)
    return names


def render(r: dict, pictures: list[str]) -> str:
    f, s = r["bundles"]["float"], r["bundles"]["slim"]
    lines = ["# End to end: float system vs slim bundle", "",
             f"Float: `{f['path']}` ({f['note']}). Slim: `{s['path']}` ({s['note']}).",
             f"Both run the same pipeline on `{r['target']}` ({r['cpu']} kernels), one image at a time, on "
             f"{r['subset'] or 'all'} images spread evenly over each set; instructions are counted per stage. "
             "Both also run on Paddle Inference on every image.", "",
             "| | float | slim | ratio |", "|---|---|---|---|",
             f"| bundle `.nb` bytes | {f['nb_bytes']:,} | {s['nb_bytes']:,} | {r['ratios']['nb_bytes']:.3f} |"]
    for stage in STAGES:
        if stage in f["models"]:
            lines.append(f"| {stage} `.nb` | {f['models'][stage]['bytes']:,} ({f['models'][stage]['precision']}) | "
                         f"{s['models'][stage]['bytes']:,} ({s['models'][stage]['precision']}) | "
                         f"{s['models'][stage]['bytes'] / f['models'][stage]['bytes']:.3f} |")
    for name, row in [*r["sets"].items(), ("all images", r["total"])]:
        fl, sl = row["float"], row["slim"]
        lines += [f"| **{name}** ({row['images']} images on ARM" + (f" of {row['of']}" if row.get("of") else "")
                  + ") | | | |",
                  f"| detection hmean | {fl['det']['hmean']:.4f} | {sl['det']['hmean']:.4f} | "
                  f"{100 * (sl['det']['hmean'] - fl['det']['hmean']):+.2f} pt |",
                  f"| end-to-end F-score (P / R) | {fl['e2e']['fscore']:.4f} ({fl['e2e']['precision']:.3f} / "
                  f"{fl['e2e']['recall']:.3f}) | {sl['e2e']['fscore']:.4f} ({sl['e2e']['precision']:.3f} / "
                  f"{sl['e2e']['recall']:.3f}) | {100 * (sl['e2e']['fscore'] - fl['e2e']['fscore']):+.2f} pt |"]
        fi, si = fl["instructions_per_image"], sl["instructions_per_image"]
        for stage in (*STAGES, "total"):
            if fi[stage]:
                lines.append(f"| ARM instructions per image, {stage} | {fi[stage] / 1e6:,.1f} M | "
                             f"{si[stage] / 1e6:,.1f} M | {si[stage] / fi[stage]:.3f} |")
        if "float_paddle_inference_all" in row:
            pf = row["float_paddle_inference_all"]["e2e"]["fscore"]
            ps = row.get("slim_paddle_inference_all", {}).get("e2e", {}).get("fscore")
            lines.append(f"| end-to-end F on all {row['of']} images, Paddle Inference | {pf:.4f} | "
                         + (f"{ps:.4f} | {100 * (ps - pf):+.2f} pt |" if ps is not None else " | |"))
    lines += ["", "## Targets", "", "| target | value | limit | |", "|---|---|---|---|"]
    lines += [f"| {t['name']} | {t['value']:,} | {t['limit']} | {'PASS' if t['passed'] else 'FAIL'} |"
              for t in r["targets"]]
    lines += ["", "A read line counts when its box overlaps a ground-truth box at IoU >= 0.5 and its text equals the "
              "transcription (case and surrounding spaces ignored); `###` boxes are don't-care.", ""]
    if pictures:
        lines += ["## Float (left) and slim (right)", ""] + [f"![{p}]({p})" for p in pictures]
    lines.append(f"\n{r['seconds']} s.\n")
    return "\n".join(lines)
