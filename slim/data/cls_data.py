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
from lite.readers import ListReader, evenly, read_label_file

from slim.data import sources

from slim.data.synth_text import random_text, render_line


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


def gate_set(path: str | Path) -> ListReader:
    """A labelled direction set: a cls label file (path<TAB>0|180) as it is;
    any other source of word crops (a folder, a rec label file, photos with
    quads) gives each crop upright and turned by 180 degrees."""
    p = Path(path)
    if p.is_file():
        first = p.read_text(encoding="utf-8-sig", errors="replace").split("\n", 1)[0]
        if first.rsplit("\t", 1)[-1].strip() in LABELS:
            return read_label_file(p, p.stem)
    words = sources.crops(p)
    return with_rotations(words, f"{words.name}-0-180")


def real_calibration(path: str | Path, n: int) -> ListReader:
    """`n` calibration crops from real words: n/2 spread evenly over the source, each at 0 and 180 degrees."""
    words = sources.crops(path)
    return with_rotations(evenly(words, max(1, n // 2)), f"{words.name}-0-180")
