"""`slim e2e`: the float OCR system against the slim bundle, end to end.

Both bundles run the same pipeline (lite/ocr/system.py) on the emulated ARM
target with instruction counting, so the only difference is the models;
the float bundle also runs on Paddle Inference as a check on the `.nb`.
Per set: detection hmean, end-to-end F-score, ARM instructions per image
for each stage; then the issue's targets and side-by-side pictures.
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

TARGET = "arm64-emu"
# The targets for the v2.0 mobile system (official slim bundle: 3.3 MB).
MAX_NB_BYTES = 3_300_000
MAX_F_DROP_POINTS = 1.0
MAX_INSTR_RATIO = 0.5


def _sets(data: str | None, synthetic: int, real: bool) -> list:
    from .data.det_data import open_det_data, real_icdar, synthetic as scenes

    if data:
        return [open_det_data(data)]
    sets = [scenes(synthetic, "eval", (320, 320))] if synthetic else []
    if real:
        r = real_icdar(paths.shared_dir())
        if r is not None:
            sets.append(r)
    if not sets:
        raise LiteError("nothing to evaluate: give --data, or --synthetic N > 0")
    return sets


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
                   bundle.params(), workers=2 if target.endswith("-emu") else 1, desc=f"{label} on {target}")
    out = [r.to_json() for r in res]
    write_bytes(cache, json.dumps(out).encode())
    return out


def _instructions(results: list[dict]) -> dict:
    n = max(len(results), 1)
    per = {s: sum(r["instructions"][s] for r in results) / n for s in STAGES}
    per["total"] = sum(per[s] for s in STAGES)
    per["crops"] = sum(len(r["det_boxes"]) for r in results) / n
    return per


def run(slim: str = "output/bundle", float_: str = "output/bundle_float", data: str | None = None,
        synthetic: int = 60, out: str = "output/e2e", cpu: str = "cortex-a76", real: bool = True) -> dict:
    t0 = time.time()
    bundles = {"float": open_bundle(float_), "slim": open_bundle(slim)}
    if bundles["float"].root.resolve() == bundles["slim"].root.resolve():
        raise LiteError(f"{slim}: the float and slim bundles are the same dir; give --float and --slim")
    sets = _sets(data, synthetic, real)
    report = {"bundles": {k: {"path": str(b.root), "nb_bytes": b.nb_bytes, "note": b.manifest.get("note", ""),
                              "models": {s: {f: m[f] for f in ("model", "bytes", "precision", "opt_version")}
                                         for s, m in b.manifest["models"].items()}}
                          for k, b in bundles.items()},
              "target": TARGET, "cpu": cpu, "sets": {}}
    everything = {k: ([], []) for k in ("float", "slim")}
    pictures = []
    for reader in sets:
        gts = [gt for _, gt in reader]
        row = {"images": len(reader), "lines_gt": sum(len(g) for g in gts)}
        results = {}
        for k, b in bundles.items():
            results[k] = _results(b, reader, TARGET, cpu, f"{k} {reader.name}")
            row[k] = evaluate_system(gts, results[k])
            row[k]["instructions_per_image"] = _instructions(results[k])
            everything[k][0].extend(gts)
            everything[k][1].extend(results[k])
        if "inference" in bundles["float"].manifest["models"]["det"]:
            pi = _results(bundles["float"], reader, PADDLE, cpu, f"float {reader.name}")
            row["float_paddle_inference"] = evaluate_system(gts, pi)
        report["sets"][reader.name] = row
        pictures += _pick(reader, results, 2)
    total = {"images": sum(len(s) for s in sets)}
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
        {"name": "end-to-end F-score drop (points, all images)", "value": round(drop, 2),
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
             f"Both run the same pipeline on `{r['target']}` ({r['cpu']} kernels), one image at a time; "
             "instructions are counted per stage.", "",
             "| | float | slim | ratio |", "|---|---|---|---|",
             f"| bundle `.nb` bytes | {f['nb_bytes']:,} | {s['nb_bytes']:,} | {r['ratios']['nb_bytes']:.3f} |"]
    for stage in STAGES:
        if stage in f["models"]:
            lines.append(f"| {stage} `.nb` | {f['models'][stage]['bytes']:,} ({f['models'][stage]['precision']}) | "
                         f"{s['models'][stage]['bytes']:,} ({s['models'][stage]['precision']}) | "
                         f"{s['models'][stage]['bytes'] / f['models'][stage]['bytes']:.3f} |")
    for name, row in [*r["sets"].items(), ("all images", r["total"])]:
        fl, sl = row["float"], row["slim"]
        lines += [f"| **{name}** ({row['images']} images) | | | |",
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
        if "float_paddle_inference" in row:
            lines.append(f"| float system on Paddle Inference: e2e F | {row['float_paddle_inference']['e2e']['fscore']:.4f}"
                         " | | |")
    lines += ["", "## Targets", "", "| target | value | limit | |", "|---|---|---|---|"]
    lines += [f"| {t['name']} | {t['value']:,} | {t['limit']} | {'PASS' if t['passed'] else 'FAIL'} |"
              for t in r["targets"]]
    lines += ["", "A read line counts when its box overlaps a ground-truth box at IoU >= 0.5 and its text equals the "
              "transcription (case and surrounding spaces ignored); `###` boxes are don't-care.", ""]
    if pictures:
        lines += ["## Float (left) and slim (right)", ""] + [f"![{p}]({p})" for p in pictures]
    lines.append(f"\n{r['seconds']} s.\n")
    return "\n".join(lines)
