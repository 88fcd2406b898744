"""Real images for a job: what the user gives, in the forms PaddleOCR users
have them. Photos feed det calibration, the pruning sensitivity scan and the
fine-tune pool (`--images`, recipe `data.images`); word crops feed rec and
cls calibration (`--calib`, recipe `data.calib`), and labelled sets are what
a gate scores (`--data`, recipe `data.gate`).

Accepted everywhere a path is asked for:
- a folder of images (photos or crops, no labels);
- a PaddleOCR det label file (`path<TAB>[{"transcription", "points"}]`) or an
  ICDAR 2015 folder (`imgs/`, `gt/`): photos with their quads, and for crop
  tasks the word crops cut from those quads (`###` skipped), each with its text;
- a PaddleOCR rec label file (`path<TAB>text`), or a folder holding one
  (rec_gt.txt, gt.txt, labels.txt): word crops with their text.

When nothing is given a job falls back to synthetic data and says, in one
line, that accuracy on real images is then not proven (`fallback`)."""
from __future__ import annotations

import sys
from pathlib import Path

from lite.errors import LiteError
from lite.ocr.crop import rotate_crop
from lite.ocr.det_labels import icdar2015, read_det_label_file
from lite.readers import REC_LABEL_FILES, ListReader, read_image_dir, read_label_file

SYNTHETIC_NOTICE = ("notice: no real {what} given ({flag} DIR|LABEL_FILE, or `data.{key}:` in the recipe); "
                    "using synthetic {what}: accuracy on real images is not proven")


_SAID: set = set()


def fallback(what: str, flag: str, key: str) -> None:
    """The one-line notice, once per process."""
    line = SYNTHETIC_NOTICE.format(what=what, flag=flag, key=key)
    if line not in _SAID:
        _SAID.add(line)
        print(line, file=sys.stderr)


def _det_labelled(p: Path) -> ListReader | None:
    """An ICDAR 2015 folder or a PaddleOCR det label file, else None."""
    if p.is_dir():
        return icdar2015(p, p.name)
    if p.is_file():
        head = p.read_text(encoding="utf-8-sig", errors="replace").lstrip()[:4096]
        first = head.splitlines()[0] if head else ""
        if "\t" in first and first.split("\t", 1)[1].lstrip().startswith("["):
            return read_det_label_file(p, p.stem)
    return None


def _must_exist(p: Path, what: str) -> None:
    if not p.exists():
        raise LiteError(f"{p}: no such file or folder; give a folder of {what}, a PaddleOCR label file or an "
                        "ICDAR 2015 folder (imgs/, gt/)")


def photos(path: str | Path) -> ListReader:
    """Photos for det: items (image, quads or None when unlabelled)."""
    p = Path(path)
    _must_exist(p, "photos")
    r = _det_labelled(p)
    if r is not None:
        return r
    if p.is_dir():
        plain = read_image_dir(p, name=p.name)
        out = ListReader(p.name, [(img, None) for img, _ in plain])
        out.skipped = plain.skipped
        return out
    raise LiteError(f"{p}: not a PaddleOCR det label file (path<TAB>[{{\"transcription\": .., \"points\": ..}}]); "
                    "give that, an ICDAR 2015 folder (imgs/, gt/) or a folder of photos")


def cut_words(photos_reader: ListReader, name: str | None = None, min_side: int = 4) -> ListReader:
    """The word crops of labelled photos, cut as predict_system cuts a detected
    box (perspective warp, tall crops turned), each with its transcription."""
    import numpy as np

    items, groups = [], []
    for photo, (img, gt) in enumerate(photos_reader):
        for g in gt or []:
            text = g.get("transcription", "")
            if text in ("###", ""):
                continue
            crop = rotate_crop(img, np.asarray(g["points"], np.float32))
            if min(crop.shape[:2]) >= min_side:
                items.append((crop, text))
                groups.append(photo)
    return ListReader(name or f"{photos_reader.name}-words", items, groups)


_CROPS: dict = {}  # one job asks for the same crops several times (calibration, selection, scan)


def crops(path: str | Path) -> ListReader:
    """Word crops for rec and cls: items (crop, text, or "" when unlabelled);
    read (or cut from photos) once per process while the file is unchanged."""
    p = Path(path)
    _must_exist(p, "crops")
    key = (str(p.resolve()), p.stat().st_mtime_ns)
    if key not in _CROPS:
        _CROPS.clear()  # the last source only: photos' crops are not small
        _CROPS[key] = _read_crops(p)
    r = _CROPS[key]
    out = ListReader(r.name, list(r.items), r.groups)
    out.skipped = r.skipped
    return out


def _read_crops(p: Path) -> ListReader:
    r = _det_labelled(p)
    if r is not None:
        words = cut_words(r)
        if not len(words):
            raise LiteError(f"{p}: its quads hold no transcribed words to cut crops from")
        return words
    if p.is_dir():
        found = next((p / n for n in REC_LABEL_FILES if (p / n).is_file()), None)
        return read_label_file(found, p.name) if found else read_image_dir(p, name=p.name)
    return read_label_file(p)
