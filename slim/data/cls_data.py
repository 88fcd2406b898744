"""Text-direction data: crops at 0 and 180 degrees with labels '0' / '180'.

Splits are fixed by seed: the eval split and the calibration split draw
their words from disjoint halves of a seeded vocabulary stream, so no
calibration crop shows an eval word.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lite.ocr.cls_labels import LABELS, user_data, with_rotations  # noqa: F401  (re-exported)
from lite.readers import ListReader, read_image_dir

from .synth_text import random_text, render_line


def synthetic(n: int, split: str) -> ListReader:
    """`n` crops (half upright, half rotated); split 'eval' or 'calib'."""
    seed = {"eval": 1001, "calib": 2002}[split]
    rng = np.random.RandomState(seed)
    items = []
    for i in range(n):
        text = random_text(rng)
        # disjoint vocabularies: eval words start with an even-coded char, calib odd
        while (ord(text[0]) % 2 == 0) != (split == "eval"):
            text = random_text(rng)
        img = render_line(text, rng)
        if i % 2:
            items.append((cv2.rotate(img, cv2.ROTATE_180), "180"))
        else:
            items.append((img, "0"))
    return ListReader(f"synthetic-{split}", items)


def real_crops(shared: Path) -> ListReader | None:
    """The real word crops in the shared data folder, each at 0 and 180 degrees."""
    items = []
    for d in (shared / "data" / "rec_words_en" / "imgs", shared / "data" / "words_multilingual"):
        if d.is_dir():
            items += read_image_dir(d).items
    if not items:
        return None
    return with_rotations(ListReader("real-crops", items))
