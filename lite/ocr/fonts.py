"""Installed fonts and the characters each covers: the synthetic-text
generators and the annotated pictures both pick fonts by coverage."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")


@lru_cache(maxsize=None)
def cmap(path: str) -> frozenset:
    """Code points the font at `path` has glyphs for (the first font of a .ttc)."""
    from fontTools.ttLib import TTFont  # matplotlib depends on fontTools

    try:
        return frozenset(TTFont(path, fontNumber=0, lazy=True).getBestCmap() or ())
    except Exception:  # noqa: BLE001 - a broken system font is skipped, not fatal
        return frozenset()


@lru_cache(maxsize=1)
def system_fonts() -> tuple[str, ...]:
    found = []
    for d in FONT_DIRS:
        if d.is_dir():
            found += [str(p) for ext in ("*.ttf", "*.ttc", "*.otf") for p in d.rglob(ext)]
    return tuple(sorted(found))
