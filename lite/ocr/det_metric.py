"""The ICDAR 2015 detection metric as PaddleOCR computes it
(ppocr/metrics/eval_det_iou.py): a detection matches a ground-truth quad at
IoU > 0.5, one to one; `###` boxes are don't-care, and so is any detection
lying more than half inside one. Counts are summed over images before
precision, recall and hmean."""
from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry import Polygon

IOU = 0.5
DONT_CARE_AREA = 0.5


def _poly(points) -> Polygon:
    p = Polygon(points)
    return p if p.is_valid else p.buffer(0)


def _iou(a: Polygon, b: Polygon) -> float:
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


@dataclass
class DetCounts:
    matched: int = 0
    gt_care: int = 0
    det_care: int = 0

    def add(self, other: DetCounts) -> None:
        self.matched += other.matched
        self.gt_care += other.gt_care
        self.det_care += other.det_care

    @property
    def precision(self) -> float:
        return self.matched / self.det_care if self.det_care else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.gt_care if self.gt_care else 0.0

    @property
    def hmean(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def match_image(gt: list[dict], dets: list) -> DetCounts:
    """gt: [{"points": [[x, y] x4], "transcription": str}]; dets: quads [[x, y] x4]."""
    gts = [_poly(g["points"]) for g in gt]
    gt_dc = [g.get("transcription") == "###" for g in gt]
    dps = [_poly(d) for d in dets]
    det_dc = []
    for d in dps:
        inside = any(dc and d.area > 0 and d.intersection(g).area / d.area > DONT_CARE_AREA
                     for g, dc in zip(gts, gt_dc))
        det_dc.append(inside)
    gt_used, det_used, matched = [False] * len(gts), [False] * len(dps), 0
    for i, g in enumerate(gts):
        for j, d in enumerate(dps):
            if gt_used[i] or det_used[j] or gt_dc[i] or det_dc[j]:
                continue
            if _iou(g, d) > IOU:
                gt_used[i] = det_used[j] = True
                matched += 1
    return DetCounts(matched, gt_dc.count(False), det_dc.count(False))


def evaluate(gts: list[list[dict]], dets: list[list]) -> dict:
    """Totals over the images, and each image's [matched, gt, det] (care boxes)
    for a paired bootstrap (lite.stats, with hmean_of_counts)."""
    total, per = DetCounts(), []
    for g, d in zip(gts, dets):
        c = match_image(g, d)
        total.add(c)
        per.append([c.matched, c.gt_care, c.det_care])
    return {"precision": total.precision, "recall": total.recall, "hmean": total.hmean,
            "matched": total.matched, "gt": total.gt_care, "det": total.det_care, "per_image": per}


def hmean_of_counts(rows) -> "np.ndarray":
    """The hmean of stacks of per-image [matched, gt, det] counts: [rounds, n, 3] -> [rounds]."""
    import numpy as np

    counts = rows.sum(1)
    m, g, d = counts[..., 0], counts[..., 1], counts[..., 2]
    p = np.divide(m, d, out=np.zeros_like(m), where=d > 0)
    r = np.divide(m, g, out=np.zeros_like(m), where=g > 0)
    return np.divide(2 * p * r, p + r, out=np.zeros_like(m), where=p + r > 0)
