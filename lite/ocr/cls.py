"""PaddleOCR's direction classifier: preprocessing and accuracy."""
from __future__ import annotations

import math

import cv2
import numpy as np

CLS_IMAGE_SHAPE = (3, 48, 192)
LABELS = ("0", "180")


def preprocess(img: np.ndarray, shape=CLS_IMAGE_SHAPE) -> np.ndarray:
    """PaddleOCR ClsResize: height 48, aspect kept, width <= 192, (x/255-0.5)/0.5,
    zero padding on the right. BGR in, CHW float32 out."""
    c, h, w = shape
    ih, iw = img.shape[:2]
    rw = min(w, int(math.ceil(h * iw / float(ih))))
    resized = cv2.resize(img, (max(rw, 1), h)).astype(np.float32)
    resized = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    out = np.zeros((c, h, w), dtype=np.float32)
    out[:, :, :rw] = resized
    return out


def batches(reader, batch_size: int = 32):
    """Yield (inputs [N,3,48,192], labels) over a reader."""
    xs, ys = [], []
    for img, label in reader:
        xs.append(preprocess(img))
        ys.append(LABELS.index(str(label)))
        if len(xs) == batch_size:
            yield np.stack(xs), np.asarray(ys)
            xs, ys = [], []
    if xs:
        yield np.stack(xs), np.asarray(ys)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(axis=1) == labels).mean()) if len(labels) else 0.0


def correct(probs: np.ndarray, labels: np.ndarray) -> list[int]:
    """Each crop: 1 where the top class is its label (the items of a paired bootstrap)."""
    return (probs.argmax(axis=1) == labels).astype(int).tolist()
