"""PaddleOCR's DB text detection around a model: DetResizeForTest and
NormalizeImage before, DBPostProcess after (ppocr/data/imaug/operators.py,
ppocr/postprocess/db_postprocess.py), and hmean over a labelled set."""
from __future__ import annotations

import cv2
import numpy as np
import pyclipper
from shapely.geometry import Polygon

from .det_metric import evaluate

MEAN = np.array([0.485, 0.456, 0.406], np.float32)  # applied to B, G, R in this order, as PaddleOCR does
STD = np.array([0.229, 0.224, 0.225], np.float32)


def test_size(h: int, w: int, limit_side_len: int = 960) -> tuple[int, int]:
    """(height, width) the detector sees: long side <= limit (det_limit_type
    max), each side rounded to a multiple of 32."""
    ratio = float(limit_side_len) / max(h, w) if max(h, w) > limit_side_len else 1.0
    return max(int(round(int(h * ratio) / 32) * 32), 32), max(int(round(int(w * ratio) / 32) * 32), 32)


def resize_for_test(img: np.ndarray, limit_side_len: int = 960) -> tuple[np.ndarray, tuple[float, float]]:
    """The image at test_size, and the (height, width) ratios."""
    h, w = img.shape[:2]
    rh, rw = test_size(h, w, limit_side_len)
    return cv2.resize(img, (rw, rh)), (rh / float(h), rw / float(w))


def normalize(img: np.ndarray) -> np.ndarray:
    """A resized BGR image -> [1, 3, H, W] float32, as NormalizeImage and ToCHWImage make it."""
    x = (img.astype(np.float32) / 255.0 - MEAN) / STD
    return x.transpose(2, 0, 1)[None].copy()


def preprocess(img: np.ndarray, limit_side_len: int = 960) -> tuple[np.ndarray, tuple[int, int]]:
    """BGR image -> ([1, 3, H, W] float32, original (h, w))."""
    return normalize(resize_for_test(img, limit_side_len)[0]), img.shape[:2]


def _mini_box(contour) -> tuple[np.ndarray, float]:
    rect = cv2.minAreaRect(contour)
    pts = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    i1, i4 = (0, 1) if pts[1][1] > pts[0][1] else (1, 0)
    i2, i3 = (2, 3) if pts[3][1] > pts[2][1] else (3, 2)
    return np.array([pts[i1], pts[i2], pts[i3], pts[i4]], np.float32), min(rect[1])


def _score_fast(prob: np.ndarray, box: np.ndarray) -> float:
    h, w = prob.shape
    xmin = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    xmax = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    ymin = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    ymax = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), np.uint8)
    shifted = box.copy()
    shifted[:, 0] -= xmin
    shifted[:, 1] -= ymin
    cv2.fillPoly(mask, shifted.reshape(1, -1, 2).astype(np.int32), 1)
    return cv2.mean(prob[ymin:ymax + 1, xmin:xmax + 1], mask)[0]


def _unclip(box: np.ndarray, ratio: float) -> np.ndarray:
    poly = Polygon(box)
    distance = poly.area * ratio / poly.length
    off = pyclipper.PyclipperOffset()
    off.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    out = off.Execute(distance)
    return np.array(out[0] if len(out) == 1 else [], np.float32)


def db_postprocess(prob: np.ndarray, src_hw: tuple[int, int], thresh: float = 0.3, box_thresh: float = 0.6,
                   unclip_ratio: float = 1.5, max_candidates: int = 1000, min_size: int = 3) -> list[np.ndarray]:
    """Probability map [H, W] (or [1, 1, H, W]) -> quads in the source image's pixels."""
    prob = np.asarray(prob, np.float32).reshape(prob.shape[-2:])
    bitmap = (prob > thresh).astype(np.uint8) * 255
    h, w = prob.shape
    sh, sw = src_hw
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for c in contours[:max_candidates]:
        pts, sside = _mini_box(c)
        if sside < min_size or _score_fast(prob, pts) < box_thresh:
            continue
        expanded = _unclip(pts, unclip_ratio)
        if len(expanded) == 0:
            continue
        box, sside = _mini_box(expanded.reshape(-1, 1, 2))
        if sside < min_size + 2:
            continue
        box[:, 0] = np.clip(np.round(box[:, 0] / w * sw), 0, sw)
        box[:, 1] = np.clip(np.round(box[:, 1] / h * sh), 0, sh)
        boxes.append(box)
    return _filter(boxes, src_hw)


def _order_clockwise(pts: np.ndarray) -> np.ndarray:
    s = pts.sum(axis=1)
    rest = np.delete(pts, [s.argmin(), s.argmax()], axis=0)
    rd = np.diff(rest, axis=1).ravel()
    return np.array([pts[s.argmin()], rest[rd.argmin()], pts[s.argmax()], rest[rd.argmax()]], np.float32) \
        if len(rest) == 2 else pts


def _filter(boxes, src_hw):
    """PaddleOCR's filter_tag_det_res: clockwise order, clip, drop boxes under 4 px."""
    h, w = src_hw
    out = []
    for b in boxes:
        b = _order_clockwise(b)
        b[:, 0] = np.clip(b[:, 0], 0, w - 1)
        b[:, 1] = np.clip(b[:, 1], 0, h - 1)
        bw = int(np.linalg.norm(b[0] - b[1]))
        bh = int(np.linalg.norm(b[0] - b[3]))
        if bw > 3 and bh > 3:
            out.append(b)
    return out


def hmean(samples: list, prob_maps: list, **post) -> dict:
    """samples: [(image, gt list)]; prob_maps: the model's map per sample."""
    dets = [db_postprocess(p, img.shape[:2], **post) for (img, _), p in zip(samples, prob_maps)]
    r = evaluate([gt for _, gt in samples], [[d.tolist() for d in ds] for ds in dets])
    r["boxes"] = sum(len(d) for d in dets)
    return r
