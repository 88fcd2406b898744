"""PaddleOCR's text recognizers: the character dictionary, preprocessing
(RecResizeImg as predict_rec does it), greedy CTC decoding and the word
metrics of ppocr/metrics/rec_metric.py."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import LiteError

DICTS = Path(__file__).resolve().parent / "dicts"


@dataclass
class Charset:
    """CTC classes: 0 is the blank, 1..N the dictionary lines, then ' ' when
    the model was trained with use_space_char."""
    chars: list[str]
    use_space: bool
    source: str = ""
    index: dict = field(init=False, repr=False)

    def __post_init__(self):
        self.index = {c: i + 1 for i, c in enumerate(self.classes[1:])}

    @property
    def classes(self) -> list[str]:
        return ["<blank>", *self.chars, *([" "] if self.use_space else [])]

    def __len__(self):
        return len(self.classes)

    def encode(self, text: str) -> tuple[str, str]:
        """(text without characters outside the dictionary, those characters):
        PaddleOCR's CTCLabelEncode drops them the same way."""
        kept = "".join(c for c in text if c in self.index)
        return kept, "".join(c for c in text if c not in self.index)


def dict_file(path: str | Path) -> Path:
    """A dictionary file, or the name of one PaddleOCR ships (`en_dict.txt`, `dict/japan_dict.txt`)."""
    p = Path(path)
    if p.is_file():
        return p
    for cand in (DICTS / path, DICTS / "dict" / path):
        if cand.is_file():
            return cand
    raise LiteError(f"{path}: no such dictionary; give a PaddleOCR dictionary file (one character per "
                    f"line) or one of {', '.join(sorted(str(f.relative_to(DICTS)) for f in DICTS.rglob('*.txt')))}")


def read_dict(path: str | Path) -> list[str]:
    """One character per line, as PaddleOCR reads it (the newline stripped)."""
    p = dict_file(path)
    chars = [line.rstrip("\r\n") for line in p.read_text(encoding="utf-8").split("\n")]
    if chars and chars[-1] == "":
        chars.pop()  # a trailing newline, not an empty character
    if not chars:
        raise LiteError(f"{p}: the dictionary is empty")
    return chars


def charset_for(dict_path: str | Path, n_classes: int, where: str = "the model") -> Charset:
    """The dictionary that fits a model with `n_classes` outputs: N + 1
    (blank) or N + 2 (blank and space); anything else is an error naming both."""
    chars = read_dict(dict_path)
    if n_classes == len(chars) + 1:
        return Charset(chars, False, str(dict_path))
    if n_classes == len(chars) + 2:
        return Charset(chars, True, str(dict_path))
    raise LiteError(f"{dict_path}: {len(chars)} characters, so {len(chars) + 1} or {len(chars) + 2} classes "
                    f"(with the space), but {where} outputs {n_classes}; give the dictionary it was trained with")


def resized_width(img: np.ndarray, height: int) -> int:
    ih, iw = img.shape[:2]
    return max(1, int(math.ceil(height * iw / float(ih))))


def padded_width(img: np.ndarray, height: int, min_width: int) -> int:
    """predict_rec's width for one crop: max(rec_image_shape W, height * w/h), in whole pixels."""
    ih, iw = img.shape[:2]
    return int(height * max(min_width / height, iw / float(ih)))


def preprocess(img: np.ndarray, height: int = 32, width: int | None = None, min_width: int = 320) -> np.ndarray:
    """PaddleOCR resize_norm_img: height `height`, aspect kept, (x/255-0.5)/0.5,
    zero padding on the right to `width` (default predict_rec's). BGR in, CHW float32 out."""
    if img is None or img.ndim < 2 or img.shape[0] == 0 or img.shape[1] == 0:
        raise LiteError("a zero-size image cannot be recognized")
    width = width or padded_width(img, height, min_width)
    rw = min(width, resized_width(img, height))
    resized = cv2.resize(img, (rw, height)).astype(np.float32)
    if resized.ndim == 2:
        resized = resized[:, :, None].repeat(3, axis=2)
    resized = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    out = np.zeros((3, height, width), dtype=np.float32)
    out[:, :, :rw] = resized
    return out


def decode(probs: np.ndarray, charset: Charset) -> list[tuple[str, float]]:
    """Greedy CTC: argmax per step, merge repeats, drop blanks; (text, mean
    probability of the kept steps) per batch row."""
    if probs.ndim != 3 or probs.shape[2] != len(charset):
        raise LiteError(f"the model outputs {list(probs.shape)}, the dictionary {charset.source or ''} has "
                        f"{len(charset)} classes; give the dictionary it was trained with")
    idx, conf = probs.argmax(axis=2), probs.max(axis=2)
    classes = charset.classes
    out = []
    for row, p in zip(idx, conf):
        keep = (row != 0) & np.concatenate([[True], row[1:] != row[:-1]])
        out.append(("".join(classes[i] for i in row[keep]), float(p[keep].mean()) if keep.any() else 0.0))
    return out


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
FOLDS = {
    "exact": lambda s: s,
    "case": lambda s: s.lower(),
    # the standard protocol of IIIT5K / SVT / IC15 word benchmarks (PaddleOCR's
    # RecMetric with is_filter): letters and digits only, case ignored
    "alnum": lambda s: "".join(c for c in s if c in _ALNUM).lower(),
}


def word_metrics(preds: list[str], labels: list[str], case_insensitive: bool = False, fold: str | None = None) -> dict:
    """Word accuracy (exact; case-folded when asked, or under `fold`: exact,
    case, alnum) and PaddleOCR's normalised edit distance,
    1 - mean(dist / max(len(pred), len(label)))."""
    if not labels:
        return {"accuracy": 0.0, "norm_edit_dis": 0.0, "size": 0}
    acc = item_scores(preds, labels, _ACCURACY_OF[fold or ("case" if case_insensitive else "exact")])
    ned = item_scores(preds, labels, "norm_edit_dis")
    return {"accuracy": sum(acc) / len(labels), "norm_edit_dis": sum(ned) / len(labels), "size": len(labels)}


_ACCURACY_OF = {"exact": "accuracy", "case": "accuracy_case_insensitive", "alnum": "accuracy_alnum"}
_FOLD_OF = {v: k for k, v in _ACCURACY_OF.items()}


def item_scores(preds: list[str], labels: list[str], metric: str) -> list[float]:
    """Each crop's part of `metric` (the metric is their mean), for a paired
    bootstrap: 1 or 0 for the word accuracies (accuracy, accuracy_case_insensitive,
    accuracy_alnum), 1 - its normalised edit distance for norm_edit_dis."""
    if metric == "norm_edit_dis":
        return [1 - edit_distance(p, t) / max(len(p), len(t), 1) for p, t in zip(preds, labels)]
    f = FOLDS[_FOLD_OF[metric]]
    return [float(f(p) == f(t)) for p, t in zip(preds, labels)]


def batches(items: list[tuple[np.ndarray, str]], height: int, min_width: int, batch_size: int = 16):
    """(inputs [N, 3, H, W], indices) with crops of one padded width per batch,
    so each batch is one run at PaddleOCR's own input size."""
    by_width: dict[int, list[int]] = {}
    for i, (img, _) in enumerate(items):
        by_width.setdefault(padded_width(img, height, min_width), []).append(i)
    for w in sorted(by_width):
        ids = by_width[w]
        for k in range(0, len(ids), batch_size):
            chunk = ids[k:k + batch_size]
            yield np.stack([preprocess(items[i][0], height, w) for i in chunk]), chunk
