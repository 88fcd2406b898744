"""Deterministic synthetic text-line crops: rendered words in several fonts,
colours and backgrounds, with blur and noise. Fonts come from matplotlib's
bundled DejaVu set (always installed) plus system fonts when present."""
from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ALPHABET = string.ascii_letters + string.digits
PUNCT = ".,:-/'&()"


@lru_cache(maxsize=1)
def fonts() -> tuple[str, ...]:
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    found = sorted(str(p) for p in ttf.glob("DejaVu*.ttf") if "Display" not in p.name)
    system = Path("/usr/share/fonts/truetype")
    if system.is_dir():
        found += sorted(str(p) for p in system.rglob("*.ttf") if "Symbol" not in p.name)[:20]
    return tuple(found)


def random_text(rng: np.random.RandomState, min_len=3, max_len=16) -> str:
    n = rng.randint(min_len, max_len + 1)
    words, out = [], 0
    while out < n:
        w = "".join(rng.choice(list(ALPHABET)) for _ in range(rng.randint(2, 9)))
        if rng.rand() < 0.3:
            w = w.capitalize() if rng.rand() < 0.5 else w.upper()
        if rng.rand() < 0.15:
            w += rng.choice(list(PUNCT))
        words.append(w)
        out += len(w) + 1
    return " ".join(words)[:max_len].strip() or "text"


def render_line(text: str, rng: np.random.RandomState, font_files: tuple[str, ...] | None = None) -> np.ndarray:
    """One BGR uint8 crop of `text`, upright, in one of `font_files` (default: fonts())."""
    font = ImageFont.truetype(rng.choice(font_files or fonts()), int(rng.randint(18, 44)))
    left, top, right, bottom = font.getbbox(text)
    w, h = right - left, bottom - top
    pad_x, pad_y = rng.randint(2, 12), rng.randint(2, 10)
    bg = rng.randint(0, 256, size=3)
    fg = rng.randint(0, 256, size=3)
    if np.abs(bg.astype(int) - fg.astype(int)).sum() < 200:  # keep the text legible
        fg = 255 - bg
    canvas = Image.new("RGB", (w + 2 * pad_x, h + 2 * pad_y), tuple(int(c) for c in bg))
    draw = ImageDraw.Draw(canvas)
    draw.text((pad_x - left, pad_y - top), text, font=font, fill=tuple(int(c) for c in fg))
    img = cv2.cvtColor(np.asarray(canvas), cv2.COLOR_RGB2BGR)
    if rng.rand() < 0.5:  # a background gradient
        grad = np.linspace(0, rng.randint(20, 80), img.shape[1])[None, :, None]
        img = np.clip(img.astype(np.float32) + grad * rng.choice([-1, 1]), 0, 255).astype(np.uint8)
    if rng.rand() < 0.5:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    if rng.rand() < 0.6:
        noise = rng.normal(0, rng.uniform(2, 12), img.shape)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return img
