"""Text-detection labels as PaddleOCR and ICDAR 2015 write them; items are
(BGR image, [{"points": [[x, y] x4], "transcription": str}]).

- `icdar2015`: imgs/NAME.jpg with gt/gt_NAME.txt.
- `read_det_label_file`: PaddleOCR's `path<TAB>[{"transcription": .., "points": ..}]`.
- `open_det_data`: either, from one path (what `--data` takes)."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import LiteError
from ..readers import ListReader, imread, imread_many


def _quad(values: list, where: str) -> list:
    if len(values) != 8:
        raise LiteError(f"{where}: expected 8 coordinates, got {len(values)}")
    return [[float(values[i]), float(values[i + 1])] for i in range(0, 8, 2)]


def icdar2015(root: str | Path, name: str = "icdar2015") -> ListReader | None:
    """imgs/NAME.jpg with gt/gt_NAME.txt (`x1,y1,..,x4,y4,transcription`, UTF-8 with BOM)."""
    root = Path(root)
    if not (root / "imgs").is_dir():
        return None
    items, skipped = [], 0
    files = sorted((root / "imgs").iterdir(), key=lambda p: (len(p.stem), p.stem))
    for f, img in zip(files, imread_many(files)):
        g = root / "gt" / f"gt_{f.stem}.txt"
        if img is None or not g.is_file():
            skipped += 1
            continue
        gt = []
        for n, line in enumerate(g.read_text(encoding="utf-8-sig").splitlines(), 1):
            parts = line.strip().split(",")
            if len(parts) < 9:
                continue
            gt.append({"points": _quad(parts[:8], f"{g}:{n}"), "transcription": ",".join(parts[8:])})
        items.append((img, gt))
    r = ListReader(name, items)
    r.skipped = skipped
    return r


def read_det_label_file(path: str | Path, name: str | None = None) -> ListReader:
    """PaddleOCR det labels: `path<TAB>[{"transcription": .., "points": [[x, y] x4]}]`."""
    path = Path(path)
    if not path.is_file():
        raise LiteError(f"{path}: no such label file; give a PaddleOCR det label file "
                        "(path<TAB>[{\"transcription\": ..., \"points\": [[x,y] x4]}] per line)")
    items, skipped = [], 0
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        rel, _, ann = line.partition("\t")
        try:
            boxes = json.loads(ann)
            gt = [{"points": _quad([v for p in b["points"] for v in p], f"{path}:{n}"),
                   "transcription": str(b.get("transcription", ""))} for b in boxes]
        except (ValueError, KeyError, TypeError) as e:
            raise LiteError(f"{path}:{n}: malformed det label line ({type(e).__name__}: {e}); expected "
                            "path<TAB>[{\"transcription\": ..., \"points\": [[x,y] x4]}]") from None
        img = imread(path.parent / rel)
        if img is None:
            skipped += 1
            continue
        items.append((img, gt))
    if not items:
        raise LiteError(f"{path}: no readable images ({skipped} failed to decode)")
    r = ListReader(name or path.stem, items)
    r.skipped = skipped
    return r


def open_det_data(path: str | Path) -> ListReader:
    p = Path(path)
    r = icdar2015(p, p.name) if p.is_dir() else read_det_label_file(p)
    if r is None:
        raise LiteError(f"{p}: not a det data folder (imgs/ and gt/) or PaddleOCR det label file")
    return r
