"""`lite ocr`: read images with a bundle on a target; JSON and annotated images out."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2

from ..atomic import atomic_path
from ..errors import LiteError
from ..readers import IMAGE_EXTS, imread
from ..targets import is_emulated

PADDLE = "paddle-inference"  # the bundle's inference models on Paddle Inference, not a Lite target


def read_images(path: str | Path) -> list[tuple[Path, object]]:
    """One image file (unreadable: an error), or every image in a folder
    (unreadable ones reported on stderr and skipped)."""
    p = Path(path)
    if p.is_file():
        img = imread(p)
        if img is None:
            raise LiteError(f"{p}: cannot decode this image; give a .jpg, .png, .bmp, .tif or .webp file")
        return [(p, img)]
    if not p.is_dir():
        raise LiteError(f"{p}: no such image or folder")
    files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTS)
    out = []
    for f in files:
        img = imread(f)
        if img is None:
            print(f"warning: {f}: cannot decode this image, skipped", file=sys.stderr)
        else:
            out.append((f, img))
    if not out:
        raise LiteError(f"{p}: no readable images ({len(files)} image files); give a folder of .jpg/.png images")
    return out


def engines_factory(bundle, target: str, cpu: str = "generic", count: bool = False):
    from .engines import InferenceEngines, NbEngines

    if target == PADDLE:
        dirs = bundle.inference_dirs()
        return lambda: InferenceEngines(dirs)
    nbs = bundle.nbs()
    return lambda: NbEngines(nbs, target, cpu, count)


def ocr(images: list[tuple[Path, object]], bundle, target: str = "arm64-emu", cpu: str = "generic",
        out: str | Path | None = None, workers: int = 2, count: bool = False, draw: bool = True) -> list[dict]:
    from .system import run_many

    workers = workers if is_emulated(target) else 1
    results = run_many([img for _, img in images], engines_factory(bundle, target, cpu, count), bundle.charset(),
                       bundle.params(), workers, desc=f"ocr on {target}")
    records = [{"image": str(path), **r.to_json()} for (path, _), r in zip(images, results)]
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if draw:
            from .draw import annotate

            for (path, img), rec in zip(images, records):
                pic = annotate(img, rec["lines"])
                dest = out / f"{path.stem}_ocr.jpg"
                with atomic_path(dest, suffix=".jpg") as tmp:
                    cv2.imwrite(str(tmp), pic)
                rec["annotated"] = str(dest)
        with atomic_path(out / "results.json") as tmp:
            tmp.write_text(json.dumps({"bundle": str(bundle.root), "target": target, "images": records},
                                      indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return records
