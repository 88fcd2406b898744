"""The photos a det prune job learns from: split into a training pool and a
held-out part (for choosing settings and for the report; never the gate
set), with what the float model detects on each pool photo (crop hints and,
without labels, the pseudo-labels of the sensitivity scan) or, with a
teacher scale, its maps of every photo seen larger (the fine-tune's
targets), cached per model and photos so a rerun does not pay for it again."""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lite.atomic import write_bytes
from lite.readers import ListReader

from slim.data.det_aug import random_crop


def _digest(reader: ListReader) -> str:
    h = hashlib.sha256()
    for img, gt in reader:
        h.update(hashlib.sha256(np.ascontiguousarray(img)).digest())
        h.update(json.dumps(gt, sort_keys=True).encode())
    return h.hexdigest()[:16]


def net_maps(net, images: list[np.ndarray], limit_side_len: int, batch: int = 8, scale: float = 1.0) -> list[np.ndarray]:
    """A dygraph detector's probability map [H, W] for each image, as the
    exported model sees it; same-sized inputs go through in batches.

    `scale` > 1: the network sees each image `scale` times larger than at
    test time, and its map is brought back (area-averaged) to the test-time
    grid: a teacher that finds the small text it misses at test scale."""
    import cv2
    import paddle

    from lite.ocr.det import normalize, test_size

    net.eval()
    grids = [test_size(*img.shape[:2], limit_side_len) for img in images]
    # at scale 1 this is resize_for_test: each side already a multiple of 32
    xs = [normalize(cv2.resize(img, (int(round(rw * scale / 32)) * 32, int(round(rh * scale / 32)) * 32)))
          for img, (rh, rw) in zip(images, grids)]
    maps: list = [None] * len(xs)
    by_shape: dict = {}
    for i, x in enumerate(xs):
        by_shape.setdefault(x.shape, []).append(i)
    with paddle.no_grad():
        for idx in by_shape.values():
            for j in range(0, len(idx), batch):
                part = idx[j:j + batch]
                out = net(paddle.to_tensor(np.concatenate([xs[i] for i in part]))).numpy()
                for k, i in enumerate(part):
                    maps[i] = out[k, 0]
    if scale != 1.0:
        maps = [cv2.resize(m, (rw, rh), interpolation=cv2.INTER_AREA) for m, (rh, rw) in zip(maps, grids)]
    return maps


def to_u8(m: np.ndarray) -> np.ndarray:
    """A probability map stored in a quarter of the bytes (steps of 1/255)."""
    return np.round(np.clip(m, 0.0, 1.0) * 255).astype(np.uint8)


def from_u8(m: np.ndarray) -> np.ndarray:
    """The float32 map a to_u8 map stands for."""
    return m.astype(np.float32) / 255


def _save_maps(path: Path, maps: list[np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, *maps)
    write_bytes(path, buf.getvalue())


def _load_maps(path: Path) -> list[np.ndarray]:
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


def maps_hmean(items: list, maps: list[np.ndarray]) -> float:
    """hmean of probability maps (net_maps) on their (image, gt) items."""
    from lite.ocr.det import hmean

    return hmean(items, [m[None, None] for m in maps])["hmean"]


def net_hmean(net, items: list, limit_side_len: int = 960, batch: int = 16) -> float:
    """hmean of a dygraph detector on (image, gt) items."""
    return maps_hmean(items, net_maps(net, [img for img, _ in items], limit_side_len, batch))


def map_boxes(images: list[np.ndarray], maps: list[np.ndarray]) -> list[list]:
    """DB's boxes on each image from its probability map (quads in its pixels)."""
    from lite.ocr.det import db_postprocess

    return [[b.round(1).tolist() for b in db_postprocess(m, img.shape[:2])] for img, m in zip(images, maps)]


def detect(net, images: list[np.ndarray], limit_side_len: int, batch: int = 8) -> list[list]:
    """The network's DB boxes on each image (as quads in its pixels)."""
    return map_boxes(images, net_maps(net, images, limit_side_len, batch))


def _scaled_maps(cache: Path, images: list, teacher, limit_side_len: int, scale: float, log, mapper) -> list:
    """The float model's uint8 maps at `scale` on `images` (net_maps), from `cache` or made and kept there."""
    if cache.is_file():
        return _load_maps(cache)
    log(f"the float model's maps at {scale:g}x the test scale on {len(images)} photos (the fine-tune's targets; cached)")
    maps = mapper(images) if mapper else [to_u8(m) for m in net_maps(teacher, images, limit_side_len, scale=scale)]
    _save_maps(cache, maps)
    return maps


@dataclass
class DetPool:
    pool: list            # (image, gt or None) to train on
    holdout: list         # (image, gt or None), never trained on
    hints: list           # the float model's boxes on each pool photo
    labelled: bool
    limit_side_len: int
    name: str
    digest: str           # of the photos and labels: part of every cache key built on them
    maps: list | None = None          # the float model's uint8 maps at teacher_scale on each pool photo
    holdout_maps: list | None = None  # and on each held-out photo
    teacher_scale: float = 1.0
    cached: tuple = ()    # what came from the job cache ("float maps", "crop hints"): a rerun's time is not the job's

    @classmethod
    def build(cls, photos: ListReader, teacher, job: Path, holdout: int, limit_side_len: int,
              log=print, detector=None, teacher_scale: float = 1.0, mapper=None) -> "DetPool":
        """`detector(images)`: the float model's boxes per image (default: `teacher` in this process).

        `teacher_scale` != 1: the float model's maps at that many times the
        test scale, on the test grid (net_maps), for every photo: the fine-
        tune's targets and, on the pool, the crop hints. `mapper(images)`
        makes them (default: `teacher` in this process)."""
        items = list(photos)
        holdout = min(holdout, len(items) // 5)
        step = len(items) / holdout if holdout else 0
        held = {int(i * step) for i in range(holdout)}  # spread evenly, like every subset here
        pool = [it for k, it in enumerate(items) if k not in held]
        hold = [it for k, it in enumerate(items) if k in held]
        digest = _digest(photos)
        labelled = all(gt is not None for _, gt in items)
        if teacher_scale != 1.0:
            file = job / f"maps-{digest}-{limit_side_len}-{holdout}-x{teacher_scale:g}.npz"
            hit = ("float maps",) if file.is_file() else ()
            maps = _scaled_maps(file, [img for img, _ in pool + hold], teacher, limit_side_len, teacher_scale, log, mapper)
            # crops centre on the text the targets mark
            hints = map_boxes([img for img, _ in pool], (from_u8(m) for m in maps[:len(pool)]))
            return cls(pool, hold, hints, labelled, limit_side_len, photos.name, digest,
                       maps[:len(pool)], maps[len(pool):], teacher_scale, hit)
        cache = job / f"hints-{digest}-{limit_side_len}-{holdout}.json"
        hit = ("crop hints",) if cache.is_file() else ()
        if hit:
            hints = json.loads(cache.read_text())
        else:
            log(f"the float model's detections on {len(pool)} pool photos (crop hints; cached)")
            images = [img for img, _ in pool]
            hints = detector(images) if detector else detect(teacher, images, limit_side_len)
            write_bytes(cache, json.dumps(hints).encode())
        return cls(pool, hold, hints, labelled, limit_side_len, photos.name, digest, cached=hit)

    def sampler(self, size: int) -> "PoolCrops":
        """Augmented `size` crops of random pool photos, half centred on text (det_aug.random_crop)."""
        return PoolCrops(self.pool, self.hints, self.limit_side_len, size, self.maps)

    def sensitivity_crops(self, teacher, n: int, size: int, with_labels: bool, seed: int = 77) -> list:
        """`n` crops at test scale, each centred on text (a photo's labelled or
        detected box), from photos spread over the pool, with the boxes they
        are scored against: the labels, or the float model's own detections."""
        rng = np.random.RandomState(seed)
        cands = [i for i in range(len(self.pool)) if self.hints[i] or (with_labels and self.pool[i][1])]
        picks = [cands[int(k * len(cands) / n)] for k in range(min(n, len(cands)))]
        crops = []
        for i in picks:
            img, gt = self.pool[i]
            crops.append(random_crop(rng, img, gt if with_labels else None, size, self.limit_side_len,
                                     scale=(1.0, 1.0), max_angle=0.0, hints=self.hints[i], text_share=1.0))
        if with_labels:
            return crops
        boxes = detect(teacher, [c for c, _ in crops], self.limit_side_len)
        return [(c, [{"points": b, "transcription": "text"} for b in bs]) for (c, _), bs in zip(crops, boxes)]


@dataclass
class PoolCrops:
    """`(rng, with_labels) -> (crop, gt or None)`: an augmented crop of a
    random pool photo (DetPool.sampler); picklable, so a fine-tune's batches
    can be drawn in a worker."""
    pool: list
    hints: list
    limit_side_len: int
    size: int
    maps: list | None = None  # DetPool.maps: then a third item, the float [size, size] target map

    def __call__(self, rng: np.random.RandomState, with_labels: bool) -> tuple:
        i = rng.randint(len(self.pool))
        img, gt = self.pool[i]
        if self.maps is None:
            return random_crop(rng, img, gt if with_labels else None, self.size, self.limit_side_len,
                               hints=self.hints[i])
        crop, moved, soft = random_crop(rng, img, gt if with_labels else None, self.size, self.limit_side_len,
                                        hints=self.hints[i], soft=self.maps[i])
        return crop, moved, from_u8(soft)
