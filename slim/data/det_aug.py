"""Training crops from real photos, as PaddleOCR's DB recipe makes them
(det_mv3_db.yml: IaaAugment Fliplr 0.5, Affine rotate [-10, 10], Resize
[0.5, 3]; EastRandomCropData): each photo first brought to the scale the
detector sees at test time (long side `limit_side_len`), then scaled by a
random factor, turned by a small random angle, mirrored half the time, and
cut to a `size` x `size` crop, with any labels moved along.

Crops prefer text: with labels, a crop is centred on a random care box
half of the time; without, on a random box the float model detected
(`hints`), so a label-free fine-tune still sees text in most batches.
A soft map over the photo (the teacher's probability map, at any
resolution) can be cut along with it, as a label would be moved.

Deterministic: the crop depends only on the random state passed in."""
from __future__ import annotations

import cv2
import numpy as np


def _affine(h: int, w: int, scale: float, angle: float) -> tuple[np.ndarray, int, int]:
    """A scale-and-rotate matrix whose output holds the whole turned image."""
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ m.T
    lo, hi = corners.min(0), corners.max(0)
    m[:, 2] -= lo
    return m, int(np.ceil(hi[1] - lo[1])), int(np.ceil(hi[0] - lo[0]))


def random_crop(rng: np.random.RandomState, img: np.ndarray, gt: list | None, size: int,
                limit_side_len: int = 960, scale: tuple[float, float] = (0.5, 1.5), max_angle: float = 10.0,
                hints: list | None = None, text_share: float = 0.5, soft: np.ndarray | None = None) -> tuple:
    """(uint8 BGR crop [size, size, 3], gt moved into it or None); `text_share`
    of the crops are centred near a text box when there is one. With `soft`
    (a map [h', w'] over the whole photo): (crop, gt, the map cut the same way,
    [size, size])."""
    h, w = img.shape[:2]
    s = min(1.0, limit_side_len / max(h, w)) * rng.uniform(*scale)
    angle = rng.uniform(-max_angle, max_angle)
    flip = rng.rand() < 0.5
    m, oh, ow = _affine(h, w, s, angle)
    if flip:
        m = np.array([[-1, 0, ow], [0, 1, 0]], np.float64) @ np.vstack([m, [0, 0, 1]])
    out = cv2.warpAffine(img, m, (ow, oh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))

    def move(quads):
        return [np.hstack([np.asarray(q, np.float64), np.ones((4, 1))]) @ m.T for q in quads]

    centres = [q.mean(0) for q in move(
        [g["points"] for g in gt if g.get("transcription") != "###"] if gt is not None else (hints or []))]
    if centres and rng.rand() < text_share:
        cx, cy = centres[rng.randint(len(centres))] + rng.uniform(-size / 4, size / 4, 2)
    else:
        cx, cy = rng.uniform(0, max(ow, 1)), rng.uniform(0, max(oh, 1))
    x0 = int(np.clip(cx - size / 2, 0, max(0, ow - size)))
    y0 = int(np.clip(cy - size / 2, 0, max(0, oh - size)))
    crop = np.zeros((size, size, 3), np.uint8)
    part = out[y0:y0 + size, x0:x0 + size]
    crop[:part.shape[0], :part.shape[1]] = part
    moved = None if gt is None else _moved(gt, move, x0, y0, size, flip)
    if soft is None:
        return crop, moved
    # the map's pixels -> the photo's, then the same scale, turn, mirror and window
    sx, sy = w / soft.shape[1], h / soft.shape[0]
    to_img = np.array([[sx, 0, (sx - 1) / 2], [0, sy, (sy - 1) / 2], [0, 0, 1]])  # pixel centres line up
    ms = (np.vstack([m, [0, 0, 1]]) @ to_img)[:2] - [[0, 0, x0], [0, 0, y0]]
    return crop, moved, cv2.warpAffine(soft, ms, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)


def _moved(gt: list, move, x0: int, y0: int, size: int, flip: bool) -> list:
    """The labels' quads in the crop's pixels (those that reach into it)."""
    moved = []
    for g, q in zip(gt, move([g["points"] for g in gt])):
        q = q - [x0, y0]
        if q[:, 0].max() < 0 or q[:, 1].max() < 0 or q[:, 0].min() > size or q[:, 1].min() > size:
            continue
        if flip:  # keep the quad clockwise from its top-left corner
            q = q[[1, 0, 3, 2]]
        moved.append({"points": q.round(2).tolist(), "transcription": g.get("transcription", "")})
    return moved
