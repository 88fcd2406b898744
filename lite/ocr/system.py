"""PaddleOCR's whole system around three models (tools/infer/predict_system.py):
det -> quads in reading order -> perspective crops -> cls (crops read as
180 degrees turned upright) -> rec -> text, boxes and scores.

Only the models differ between backends: every pre- and post-processing step
lives here, and a backend (lite/ocr/engines.py) just maps a stage's input
tensor to its output tensor, with its instruction count where the target
counts them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from ..errors import LiteError
from . import cls as clsmod
from . import det as detmod
from . import rec as recmod
from .crop import rotate_crop, sorted_boxes

STAGES = ("det", "cls", "rec")


class Engines(Protocol):
    """A backend: one stage's input tensor in, its first output and the
    instructions that run cost (None where not counted) out."""

    def run(self, stage: str, x: np.ndarray) -> tuple[np.ndarray, int | None]: ...


@dataclass
class SystemParams:
    """predict_system's defaults; a bundle's manifest carries them."""
    limit_side_len: int = 960
    det_thresh: float = 0.3
    box_thresh: float = 0.6
    unclip_ratio: float = 1.5
    use_cls: bool = True
    cls_thresh: float = 0.9
    cls_batch: int = 6
    rec_height: int = 32
    rec_min_width: int = 320
    rec_batch: int = 6
    drop_score: float = 0.5

    @classmethod
    def from_manifest(cls, m: dict) -> SystemParams:
        det, c, r = (m["models"].get(s, {}) for s in STAGES)
        dpre, dpost = det.get("preprocess", {}), det.get("postprocess", {})
        return cls(limit_side_len=dpre.get("limit_side_len", 960), det_thresh=dpost.get("thresh", 0.3),
                   box_thresh=dpost.get("box_thresh", 0.6), unclip_ratio=dpost.get("unclip_ratio", 1.5),
                   use_cls="cls" in m["models"], cls_thresh=c.get("postprocess", {}).get("cls_thresh", 0.9),
                   rec_height=r.get("preprocess", {}).get("height", 32),
                   rec_min_width=r.get("preprocess", {}).get("min_width", 320),
                   drop_score=r.get("postprocess", {}).get("drop_score", 0.5))


@dataclass
class ImageResult:
    lines: list[dict] = field(default_factory=list)  # {"box", "text", "score", "angle", "angle_score"}
    det_boxes: list = field(default_factory=list)     # every detected quad, before the rec score filter
    instructions: dict = field(default_factory=lambda: {s: 0 for s in STAGES})
    runs: dict = field(default_factory=lambda: {s: 0 for s in STAGES})

    def to_json(self) -> dict:
        return {"lines": self.lines, "det_boxes": self.det_boxes, "instructions": self.instructions,
                "runs": self.runs}


class OcrSystem:
    def __init__(self, engines: Engines, charset: recmod.Charset, params: SystemParams | None = None):
        self.engines, self.charset, self.p = engines, charset, params or SystemParams()

    def _run(self, res: ImageResult, stage: str, x: np.ndarray) -> np.ndarray:
        out, n = self.engines.run(stage, x)
        res.runs[stage] += 1
        if n is not None:
            res.instructions[stage] += n
        return out

    def __call__(self, img: np.ndarray) -> ImageResult:
        if img is None or img.ndim != 3 or img.shape[0] < 2 or img.shape[1] < 2:
            raise LiteError("an empty image cannot be read")
        p, res = self.p, ImageResult()
        x, src_hw = detmod.preprocess(img, p.limit_side_len)
        prob = self._run(res, "det", x)[:, :1]
        quads = sorted_boxes(detmod.db_postprocess(prob, src_hw, p.det_thresh, p.box_thresh, p.unclip_ratio))
        res.det_boxes = [np.asarray(q).round(1).tolist() for q in quads]
        if not quads:
            return res  # no text is an empty result, not an error
        crops = [rotate_crop(img, q) for q in quads]
        angles = [("0", 0.0)] * len(crops)
        if p.use_cls:
            angles = self._classify(res, crops)
        texts = self._recognize(res, crops)
        for q, (text, score), (angle, ascore) in zip(quads, texts, angles):
            if score >= p.drop_score:
                res.lines.append({"box": np.asarray(q).round(1).tolist(), "text": text, "score": round(score, 5),
                                  "angle": int(angle), "angle_score": round(ascore, 5)})
        return res

    def _classify(self, res: ImageResult, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """TextClassifier: batches in aspect-ratio order; a crop read as '180'
        with confidence above cls_thresh is turned in place."""
        order = np.argsort([c.shape[1] / float(c.shape[0]) for c in crops], kind="stable")
        out: list = [None] * len(crops)
        for k in range(0, len(order), self.p.cls_batch):
            ids = order[k:k + self.p.cls_batch]
            probs = self._run(res, "cls", np.stack([clsmod.preprocess(crops[i]) for i in ids]))
            for i, pr in zip(ids, probs):
                label = clsmod.LABELS[int(pr.argmax())]
                out[i] = (label, float(pr.max()))
                if label == "180" and pr.max() > self.p.cls_thresh:
                    crops[i] = cv2.rotate(crops[i], cv2.ROTATE_180)
        return out

    def _recognize(self, res: ImageResult, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """TextRecognizer: batches in aspect-ratio order, each padded to its
        widest crop (at least rec_min_width)."""
        h, mw = self.p.rec_height, self.p.rec_min_width
        order = np.argsort([c.shape[1] / float(c.shape[0]) for c in crops], kind="stable")
        out: list = [None] * len(crops)
        for k in range(0, len(order), self.p.rec_batch):
            ids = order[k:k + self.p.rec_batch]
            width = max(recmod.padded_width(crops[i], h, mw) for i in ids)
            logits = self._run(res, "rec", np.stack([recmod.preprocess(crops[i], h, width) for i in ids]))
            for i, tr in zip(ids, recmod.decode(logits, self.charset)):
                out[i] = tr
        return out


def run_many(images: list[np.ndarray], make_engines, charset: recmod.Charset, params: SystemParams,
             workers: int = 1, desc: str = "ocr") -> list[ImageResult]:
    """The system over many images: `workers` threads, each with its own
    engines from `make_engines()` (one runner process per stage per worker,
    so emulated targets use every core), results in input order."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    workers = max(1, min(workers, len(images)))
    order = sorted(range(len(images)), key=lambda i: -images[i].size)  # big images first balances the shards
    shards = [order[k::workers] for k in range(workers)]
    out: list = [None] * len(images)
    bar = tqdm(total=len(images), desc=desc, unit="img", leave=False)

    def work(shard):
        engines = make_engines()
        try:
            system = OcrSystem(engines, charset, params)
            for i in shard:
                out[i] = system(images[i])
                bar.update(1)
        finally:
            engines.close()

    with ThreadPoolExecutor(workers) as ex:
        for f in [ex.submit(work, s) for s in shards]:
            f.result()
    bar.close()
    return out
