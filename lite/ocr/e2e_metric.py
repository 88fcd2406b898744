"""End-to-end text reading on labelled images: detection hmean (ICDAR 2015,
lite/ocr/det_metric.py) and end-to-end F-score, where a read line counts
when its box overlaps a ground-truth box at IoU >= 0.5 and its text equals
that box's transcription (case and surrounding spaces ignored, as ICDAR's
word-spotting protocol does). `###` boxes are don't-care, and so is any
read line lying mostly inside one."""
from __future__ import annotations

from .det_metric import DONT_CARE_AREA, _iou, _poly, evaluate

E2E_IOU = 0.5


def _norm(s: str) -> str:
    return " ".join(str(s).split()).lower()


def match_e2e(gt: list[dict], lines: list[dict]) -> tuple[int, int, int]:
    """(matched, gt boxes that count, read lines that count) for one image."""
    gts = [_poly(g["points"]) for g in gt]
    gt_dc = [g.get("transcription") == "###" for g in gt]
    dps = [_poly(ln["box"]) for ln in lines]
    det_dc = [any(dc and d.area > 0 and d.intersection(g).area / d.area > DONT_CARE_AREA
                  for g, dc in zip(gts, gt_dc)) for d in dps]
    pairs = sorted(((_iou(g, d), i, j) for i, g in enumerate(gts) for j, d in enumerate(dps)
                    if not gt_dc[i] and not det_dc[j]), reverse=True)
    gt_used, det_used, matched = set(), set(), 0
    for iou, i, j in pairs:  # best overlaps first, one to one
        if iou < E2E_IOU:
            break
        if i in gt_used or j in det_used:
            continue
        if _norm(gt[i]["transcription"]) == _norm(lines[j]["text"]):
            gt_used.add(i)
            det_used.add(j)
            matched += 1
    return matched, gt_dc.count(False), det_dc.count(False)


def _f(m: int, g: int, d: int) -> dict:
    p = m / d if d else 0.0
    r = m / g if g else 0.0
    return {"precision": p, "recall": r, "fscore": 2 * p * r / (p + r) if p + r else 0.0,
            "matched": m, "gt": g, "det": d}


def evaluate_system(gts: list[list[dict]], results: list[dict]) -> dict:
    """gts: per image [{"points", "transcription"}]; results: per image the
    system's output, {"det_boxes": all detected quads, "lines": [{"box",
    "text", ...}] kept after the recognizer's score filter}. Detection is
    scored on every detected box, as PaddleOCR's det eval does; end to end
    on the lines a user gets."""
    det = evaluate(gts, [r["det_boxes"] for r in results])
    m = g = d = 0
    for gt, r in zip(gts, results):
        a, b, c = match_e2e(gt, r["lines"])
        m, g, d = m + a, g + b, d + c
    return {"det": det, "e2e": _f(m, g, d), "images": len(gts)}
