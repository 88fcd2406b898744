"""Recognition data: synthetic word crops over a model's own alphabet, and
the real labelled crops of the shared data folder.

Splits are fixed by seed, and the eval and calibration splits hold disjoint
words (a checksum bit of the text decides its split), so no calibration crop
shows an eval word. Latin text uses matplotlib's DejaVu fonts; CJK and
Hangul need a system font that has the glyphs, found by its cmap."""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from lite.errors import LiteError
from lite.ocr.fonts import cmap, system_fonts
from lite.ocr.rec import Charset, padded_width
from lite.readers import ListReader, imread

from slim.data.synth_text import fonts, render_line

CJK_HINT = "install a CJK font (Debian: apt install fonts-wqy-zenhei, or fonts-noto-cjk)"


def fonts_for(charset: Charset, min_cover: float = 0.6) -> tuple[tuple[str, ...], str]:
    """(font files, the characters all of them render): Latin dictionaries use
    the DejaVu set; others every installed font covering most of the dictionary."""
    chars = [c for c in charset.chars if len(c) == 1 and c.strip()]
    latin = all(ord(c) < 0x2000 for c in chars)
    pool = fonts() if latin else system_fonts()
    good = [f for f in pool if sum(ord(c) in cmap(f) for c in chars) >= min_cover * len(chars)]
    if not good:
        raise LiteError(f"no installed font renders the dictionary {charset.source} "
                        f"(e.g. {''.join(chars[100:105])}); {CJK_HINT}")
    common = frozenset.intersection(*(cmap(f) for f in good))
    return tuple(good), "".join(c for c in chars if ord(c) in common)


def _text(rng: np.random.RandomState, alphabet: str, latin: bool, space: bool) -> str:
    if latin:
        letters = [c for c in alphabet if c.isalnum()]
        n_words = 1 + (rng.rand() < 0.3 and space)
        words = []
        for _ in range(n_words):
            w = "".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
            if rng.rand() < 0.15:
                w += rng.choice([c for c in alphabet if not c.isalnum()] or [""])
            words.append(w)
        return " ".join(words)
    # CJK: kana carry most of written Japanese, so a Japanese alphabet draws
    # kana 60 % of the time; the ideographs come from the first 3,000 of the
    # dictionary (ppocr_keys_v1 lists them roughly by corpus frequency), as
    # uniformly drawn rare ideographs are unreadable even to the float model.
    kana = [c for c in alphabet if 0x3041 <= ord(c) <= 0x30FA]
    kana = kana if len(kana) >= 100 else []  # ppocr_keys_v1 has a few kana; it is not a Japanese alphabet
    ideo = [c for c in alphabet if ord(c) >= 0x3400 and c not in kana][:3000] or list(alphabet)
    n = rng.randint(2, 9)
    return "".join(rng.choice(kana) if kana and rng.rand() < 0.6 else rng.choice(ideo) for _ in range(n))


def synthetic(n: int, split: str, charset: Charset, height: int = 32, min_width: int = 320) -> ListReader:
    """`n` word crops over the charset's alphabet; split 'eval', 'sens' (the
    per-layer sensitivity scan: eval-side words, another seed) or 'calib'.
    Every crop fits PaddleOCR's default width (ratio <= min_width / height),
    so calibration batches share one input shape."""
    seed = {"eval": 3003, "calib": 4004, "sens": 5005}[split]
    files, alphabet = fonts_for(charset)
    latin = all(ord(c) < 0x2000 for c in alphabet)
    rng = np.random.RandomState(seed)
    items = []
    while len(items) < n:
        text = _text(rng, alphabet, latin, charset.use_space)
        if (zlib.crc32(text.encode()) & 1) != (split == "calib"):
            continue
        img = render_line(text, rng, files)
        if padded_width(img, height, min_width) > min_width:
            continue
        items.append((img, text))
    return ListReader(f"synthetic-{split}", items)


# The real labelled crops per dictionary language (shared data folder).
REAL = {
    "en": [("rec_words_en/labels.txt", " "), ("words_multilingual/labels_en.txt", "\t")],
    "ch": [("words_multilingual/labels_ch.txt", "\t")],
    "japan": [("words_multilingual/labels_japan.txt", "\t")],
    "korean": [("words_multilingual/labels_korean.txt", "\t")],
    "latin": [("words_multilingual/labels_latin.txt", "\t")],
}
LANG_OF_DICT = {"en_dict.txt": "en", "ppocr_keys_v1.txt": "ch", "japan_dict.txt": "japan",
                "korean_dict.txt": "korean", "french_dict.txt": "latin", "german_dict.txt": "latin"}


def real_crops(shared: Path, charset: Charset) -> ListReader | None:
    """The real crops in the dictionary's language (None when there are none)."""
    lang = LANG_OF_DICT.get(Path(charset.source).name)
    items = []
    for rel, sep in REAL.get(lang, []):
        f = shared / "data" / rel
        if not f.is_file():
            continue
        for line in f.read_text(encoding="utf-8-sig").splitlines():
            if sep in line:
                path, text = line.split(sep, 1)
                img = imread(f.parent / ("imgs" if sep == " " else "") / path)
                if img is not None:
                    items.append((img, text.strip()))
    return ListReader("real-crops", items) if items else None
