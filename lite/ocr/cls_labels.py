"""Direction-classifier labels: PaddleOCR's cls label file (`path<TAB>0|180`)
or a folder of upright crops, each also scored turned by 180 degrees."""
from __future__ import annotations

from pathlib import Path

import cv2

from ..errors import LiteError
from ..readers import ListReader, read_image_dir, read_label_file

LABELS = ("0", "180")


def with_rotations(reader, name: str | None = None) -> ListReader:
    """Each upright crop as '0' and turned by 180 degrees as '180'."""
    items = []
    for img, _ in reader:
        items.append((img, "0"))
        items.append((cv2.rotate(img, cv2.ROTATE_180), "180"))
    out = ListReader(name or reader.name, items)
    out.skipped = getattr(reader, "skipped", 0)
    return out


def user_data(path: str) -> ListReader:
    """`--data`: a PaddleOCR cls label file (labels '0'/'180') or a folder of upright crops."""
    p = Path(path)
    if p.is_file():
        r = read_label_file(p)
        bad = [lab for _, lab in r if lab not in LABELS]
        if bad:
            raise LiteError(f"{p}: cls labels must be 0 or 180, found {bad[0]!r}")
        return r
    return with_rotations(read_image_dir(p))
