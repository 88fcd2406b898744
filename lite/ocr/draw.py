"""Annotated pictures of an OCR result, as PaddleOCR's draw_ocr_box_txt lays
them out: the image with its boxes on the left, the text read in each box on
a white panel on the right. Text is drawn in a font that covers it (a CJK
font where one is installed), so Chinese and Japanese results stay legible."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .fonts import cmap, system_fonts

_PREFERRED = ("wqy-zenhei", "NotoSansCJK", "NotoSerifCJK", "DejaVuSans.ttf")


@lru_cache(maxsize=1)
def _font_files() -> tuple[str, ...]:
    """Installed fonts and matplotlib's DejaVu Sans, CJK ones first."""
    found = list(system_fonts())
    try:
        import matplotlib

        found += [str(p) for p in (Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("DejaVuSans.ttf")]
    except ImportError:
        pass
    rank = {f: next((i for i, k in enumerate(_PREFERRED) if k in Path(f).name), len(_PREFERRED)) for f in found}
    return tuple(sorted(found, key=lambda f: (rank[f], f)))


@lru_cache(maxsize=64)
def font_for(text: str) -> str | None:
    """The first installed font (CJK ones first) that has every character of `text`."""
    files = _font_files()
    need = {ord(c) for c in text if not c.isspace()}
    return next((f for f in files if need <= cmap(f)), files[0] if files else None)


def _font(path: str | None, size: int):
    if path is None:
        return ImageFont.load_default()
    return ImageFont.truetype(path, max(size, 8))


def annotate(img: np.ndarray, lines: list[dict], title: str = "") -> np.ndarray:
    """BGR image -> BGR picture twice as wide: boxes on the image, text on a panel."""
    h, w = img.shape[:2]
    left = img.copy()
    right = np.full_like(img, 255)
    rng = np.random.RandomState(0)  # the same colours every run
    text_all = "".join(ln["text"] for ln in lines) + title
    font_file = font_for(text_all) if text_all else (font_for("A"))
    panel = Image.fromarray(cv2.cvtColor(right, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(panel)
    for ln in lines:
        box = np.asarray(ln["box"], np.float32).reshape(4, 2)
        col = tuple(int(c) for c in rng.randint(0, 200, 3))
        cv2.polylines(left, [box.astype(np.int32)], True, col[::-1], 2)
        bh = float(np.linalg.norm(box[0] - box[3]))
        bw = float(np.linalg.norm(box[0] - box[1]))
        draw.polygon([tuple(p) for p in box.tolist()], outline=col)
        size = int(max(min(bh * 0.8, bw / max(len(ln["text"]), 1) * 1.6), 8))
        draw.text((float(box[0][0]) + 2, float(box[0][1]) + 1), ln["text"], fill=(0, 0, 0),
                  font=_font(font_file, size))
    if title:
        draw.text((4, 2), title, fill=(200, 0, 0), font=_font(font_file, max(12, h // 30)))
    right = cv2.cvtColor(np.asarray(panel), cv2.COLOR_RGB2BGR)
    return np.concatenate([left, right], axis=1)


def stack(pictures: list[np.ndarray], gap: int = 8) -> np.ndarray:
    """Pictures one above another (widths padded to the widest)."""
    w = max(p.shape[1] for p in pictures)
    rows = []
    for p in pictures:
        pad = np.full((p.shape[0], w - p.shape[1], 3), 255, np.uint8)
        rows += [np.concatenate([p, pad], axis=1), np.full((gap, w, 3), 255, np.uint8)]
    return np.concatenate(rows[:-1], axis=0)
