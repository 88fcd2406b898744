"""Text-detection data: items are (BGR image, [{"points": [[x, y] x4],
"transcription": str}]), the form PaddleOCR's det labels take.

- `synthetic`: deterministic scenes, text lines in varied fonts, sizes,
  colours, rotations and perspective over procedural backgrounds, with the
  exact quad of every line (the text's bounding box pushed through the same
  homography that places it).
- `icdar2015`, `read_det_label_file`: from lite.ocr.det_labels (`lite eval` reads them too).
"""
from __future__ import annotations


import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont


from lite.ocr.det_labels import icdar2015, open_det_data, read_det_label_file  # noqa: F401  (re-exported)
from lite.readers import ListReader
from slim.data.synth_text import fonts, random_text

SEEDS = {"eval": 5001, "pool": 6002, "sens": 7003}


def _background(rng: np.random.RandomState, h: int, w: int) -> np.ndarray:
    """Gradients, blocks, lines and noise: clutter with edges that are not text."""
    c0, c1 = rng.randint(0, 256, 3), rng.randint(0, 256, 3)
    t = np.linspace(0, 1, w if rng.rand() < 0.5 else h)
    grad = c0[None, :] * (1 - t[:, None]) + c1[None, :] * t[:, None]
    img = np.broadcast_to(grad[None] if len(t) == w else grad[:, None], (h, w, 3)).astype(np.float32).copy()
    for _ in range(rng.randint(0, 6)):
        x0, y0 = rng.randint(0, w), rng.randint(0, h)
        x1, y1 = x0 + rng.randint(10, w // 2), y0 + rng.randint(10, h // 2)
        col = tuple(int(v) for v in rng.randint(0, 256, 3))
        if rng.rand() < 0.5:
            cv2.rectangle(img, (x0, y0), (x1, y1), col, -1 if rng.rand() < 0.6 else rng.randint(1, 4))
        elif rng.rand() < 0.5:
            cv2.line(img, (x0, y0), (x1, y1), col, int(rng.randint(1, 5)))
        else:
            cv2.circle(img, (x0, y0), int(rng.randint(5, w // 4)), col, -1)
    img += rng.normal(0, rng.uniform(1, 10), img.shape)
    return np.clip(img, 0, 255)


def _line_layer(text: str, font_path: str, size: int):
    font = ImageFont.truetype(font_path, size)
    left, top, right, bottom = font.getbbox(text)
    pad = max(2, size // 4)
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    layer = Image.new("L", (w, h), 0)
    ImageDraw.Draw(layer).text((pad - left, pad - top), text, font=font, fill=255)
    box = np.array([[pad, pad], [w - pad, pad], [w - pad, h - pad], [pad, h - pad]], np.float32)
    return np.asarray(layer, np.float32) / 255.0, box


def scene(rng: np.random.RandomState, h: int = 320, w: int = 320, max_lines: int = 6):
    """One scene: (BGR uint8 image, gt list)."""
    img = _background(rng, h, w)
    taken = np.zeros((h, w), np.uint8)
    gt = []
    for _ in range(rng.randint(1, max_lines + 1)):
        text = random_text(rng, 2, 14)
        alpha, box = _line_layer(text, fonts()[rng.randint(len(fonts()))], int(rng.randint(14, 40)))
        lh, lw = alpha.shape
        if lw >= w - 4 or lh >= h - 4:
            continue
        src = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float32)
        for _try in range(10):
            ang = np.deg2rad(rng.uniform(-20, 20) if rng.rand() < 0.6 else 0.0)
            rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]], np.float32)
            dst = (src - [lw / 2, lh / 2]) @ rot.T
            dst += rng.uniform(-0.08, 0.08, dst.shape).astype(np.float32) * lh  # mild perspective
            lo, hi = dst.min(0), dst.max(0)
            if hi[0] - lo[0] >= w - 4 or hi[1] - lo[1] >= h - 4:
                break
            off = [rng.uniform(2 - lo[0], w - 2 - hi[0]), rng.uniform(2 - lo[1], h - 2 - hi[1])]
            dst = (dst + np.asarray(off, np.float32)).astype(np.float32)
            H = cv2.getPerspectiveTransform(src, dst)
            a = cv2.warpPerspective(alpha, H, (w, h))
            mask = (a > 0.05).astype(np.uint8)
            if (cv2.dilate(mask, np.ones((7, 7), np.uint8)) & taken).any():
                continue
            quad = cv2.perspectiveTransform(box[None], H)[0]
            under = img[mask.astype(bool)].mean(0) if mask.any() else np.zeros(3)
            col = rng.randint(0, 256, 3).astype(np.float32)
            if np.abs(col - under).sum() < 250:  # legible against what lies beneath
                col = np.where(under > 127, rng.uniform(0, 60, 3), rng.uniform(195, 255, 3))
            img = img * (1 - a[..., None]) + col * a[..., None]
            taken |= mask
            gt.append({"transcription": text, "points": quad.round(1).tolist()})
            break
    if rng.rand() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    return np.clip(img, 0, 255).astype(np.uint8), gt


def synthetic(n: int, split: str, size: tuple[int, int] = (320, 320)) -> ListReader:
    """`n` scenes; splits 'eval', 'pool' (unlabeled fine-tuning) and 'sens'
    (the fast sensitivity subset) come from different seeds."""
    rng = np.random.RandomState(SEEDS[split])
    return ListReader(f"synthetic-{split}", [scene(rng, *size) for _ in range(n)])


def labelled(path) -> ListReader:
    """A labelled det set (an ICDAR 2015 folder or a PaddleOCR det label file)."""
    from lite.errors import LiteError

    from slim.data import sources

    r = sources.photos(path)
    if any(gt is None for _, gt in r):
        raise LiteError(f"{path}: these photos have no labels; a gate set needs them: give a PaddleOCR det label "
                        "file or an ICDAR 2015 folder (imgs/, gt/)")
    return r


def calibration_crops(path, n: int, side: int, recipe_limit: int = 960, seed: int = 8008) -> ListReader:
    """`n` crops of `side` x `side` from real photos at the scale the detector
    sees them (long side `recipe_limit`), over the photos evenly; with labels,
    half are centred on text."""
    from slim.data import sources
    from slim.data.det_aug import random_crop

    photos = sources.photos(path)
    rng = np.random.RandomState(seed)
    items = []
    for k in range(n):  # photos spread evenly; more crops than photos take several from each
        img, gt = photos.items[int(k * len(photos) / n)]
        items.append(random_crop(rng, img, gt, side, recipe_limit, scale=(1.0, 1.0), max_angle=0.0))
    return ListReader(f"{photos.name}-crops", items)
