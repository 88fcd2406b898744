"""From detected quads to text-line crops, as PaddleOCR's predict_system does
it (tools/infer/utility.py get_rotate_crop_image, predict_system.sorted_boxes)."""
from __future__ import annotations

import cv2
import numpy as np


def sorted_boxes(boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Reading order: top to bottom, then left to right for boxes whose top
    left corners lie within 10 px of each other vertically."""
    out = sorted(boxes, key=lambda b: (b[0][1], b[0][0]))
    for i in range(len(out) - 1):
        for j in range(i, -1, -1):
            if abs(out[j + 1][0][1] - out[j][0][1]) < 10 and out[j + 1][0][0] < out[j][0][0]:
                out[j], out[j + 1] = out[j + 1], out[j]
            else:
                break
    return out


def rotate_crop(img: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The quad (clockwise from top left) warped upright by a perspective
    transform; crops 1.5x taller than wide are turned 90 degrees, as
    PaddleOCR does for vertical text."""
    pts = np.asarray(quad, np.float32).reshape(4, 2)
    w = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    h = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    w, h = max(w, 1), max(h, 1)
    dst = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(pts, dst)
    crop = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if crop.shape[0] / crop.shape[1] >= 1.5:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop
