"""Readers: PaddleOCR label files, plain image folders, in-memory lists."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np

from lite.errors import LiteError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


class Reader(Protocol):
    """The whole protocol: a name, a length, and (image, label) pairs."""

    name: str

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[tuple[np.ndarray, str]]: ...


class ListReader:
    def __init__(self, name: str, items: list[tuple[np.ndarray, str]], groups: list | None = None):
        self.name, self.items = name, items
        self.skipped = 0
        self.groups = groups  # per item, the photo it was cut from (word crops), else None

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


def imread(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return img if img is not None and img.size else None


def imread_many(paths: list[Path]) -> list[np.ndarray | None]:
    """`imread` of each path, in order; decoded on every core (OpenCV lets go
    of the GIL), which halves reading 500 photos on two cores."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        return list(pool.map(imread, paths))


def read_label_file(path: str | os.PathLike, name: str | None = None) -> ListReader:
    """PaddleOCR's `path<TAB>label` format (paths relative to the file's folder)."""
    path = Path(path)
    if not path.is_file():
        raise LiteError(f"{path}: no such label file; give a PaddleOCR label file (path<TAB>label per line) or an image folder")
    items, skipped = [], 0
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise LiteError(f"{path}:{n}: malformed label line {line[:60]!r}; expected path<TAB>label")
        rel, label = line.split("\t", 1)
        img = imread(path.parent / rel)
        if img is None:
            skipped += 1
            continue
        items.append((img, label.strip()))
    if not items:
        raise LiteError(f"{path}: no readable images ({skipped} failed to decode)")
    r = ListReader(name or path.stem, items)
    r.skipped = skipped
    return r


def read_image_dir(path: str | os.PathLike, label: str = "", name: str | None = None) -> ListReader:
    path = Path(path)
    if not path.is_dir():
        raise LiteError(f"{path}: no such folder")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    items, skipped = [], 0
    for f in files:
        img = imread(f)
        if img is None:
            skipped += 1
        else:
            items.append((img, label))
    if not items:
        raise LiteError(f"{path}: no readable images ({len(files)} files, {skipped} failed to decode); "
                        "give a folder of .jpg/.png crops or a PaddleOCR label file")
    r = ListReader(name or path.name, items)
    r.skipped = skipped
    return r


REC_LABEL_FILES = ("rec_gt.txt", "gt.txt", "labels.txt", "label.txt")


def read_rec_data(path: str | os.PathLike) -> ListReader:
    """Word crops with their text: a PaddleOCR rec label file (`path<TAB>text`),
    or a folder holding one under a usual name (rec_gt.txt, gt.txt, labels.txt)."""
    p = Path(path)
    if p.is_dir():
        found = next((p / n for n in REC_LABEL_FILES if (p / n).is_file()), None)
        if found is None:
            raise LiteError(f"{p}: no label file ({', '.join(REC_LABEL_FILES)}) in this folder; give a PaddleOCR "
                            "rec label file (path<TAB>text per line)")
        return read_label_file(found, p.name)
    return read_label_file(p)


def evenly(reader, k: int, name: str | None = None) -> ListReader:
    """`k` items spread evenly over the reader (items 0, n/k, 2n/k, ...): the
    same subset for every model, and one that samples the whole set rather
    than its first files. All of them when k is 0 or not smaller."""
    items = list(reader.items if hasattr(reader, "items") else reader)
    out = ListReader(name or reader.name, [items[i] for i in evenly_indices(len(items), k)])
    out.skipped = getattr(reader, "skipped", 0)
    return out


def evenly_indices(n: int, k: int) -> list[int]:
    """The indices `evenly` takes: k of n, spread evenly (all when k is 0 or not smaller)."""
    return list(range(n)) if not k or k >= n else [int(i * n / k) for i in range(k)]


def held_out(reader, used: int, k: int, name: str | None = None) -> ListReader:
    """About `k` items spread evenly over those `evenly(reader, used)` does
    not take: a labelled set disjoint from the calibration items, for choosing
    between candidates without looking at the gate set. Crops cut from photos
    are held out by whole photo (see `held_out_indices`)."""
    items = list(reader.items if hasattr(reader, "items") else reader)
    groups = getattr(reader, "groups", None)
    return ListReader(name or f"{reader.name}-heldout",
                      [items[i] for i in held_out_indices(len(items), used, k, groups)])


def held_out_indices(n: int, used: int, k: int, groups: list | None = None) -> list[int]:
    """The indices `held_out` takes from n items. With `groups` (the photo of
    each crop), every crop of an evenly spread choice of photos, about k in
    all: words of one photo share its light, its font and often its text, so
    a word whose photo-mates were trained on reads too easily to rank
    candidates that must hold on other photos."""
    taken = set(evenly_indices(n, used))
    if groups is None:
        rest = [i for i in range(n) if i not in taken]
        return [rest[i] for i in evenly_indices(len(rest), k)]
    if not k:
        return []
    photos = list(dict.fromkeys(groups))
    chosen = {photos[i] for i in evenly_indices(len(photos), min(len(photos), -(-k * len(photos) // n)))}
    return [i for i in range(n) if groups[i] in chosen and i not in taken]
