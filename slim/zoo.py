"""PaddleOCR models by their names: where the weights come from, input spec,
preprocessing. This version can fetch the v2.0 direction classifier; the
other entries arrive with their recipes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lite.errors import LiteError


@dataclass(frozen=True)
class ZooModel:
    name: str
    task: str
    input_shape: tuple
    inference_url: str
    trained_url: str


_BASE = "https://paddleocr.bj.bcebos.com/dygraph_v2.0/ch"
MODELS = {
    "ch_ppocr_mobile_v2.0_cls": ZooModel(
        "ch_ppocr_mobile_v2.0_cls", "cls", (3, 48, 192),
        f"{_BASE}/ch_ppocr_mobile_v2.0_cls_infer.tar", f"{_BASE}/ch_ppocr_mobile_v2.0_cls_train.tar"),
}
ALIASES = {"cls": "ch_ppocr_mobile_v2.0_cls"}


def resolve(name_or_path: str) -> tuple[str, Path]:
    """(model name, local inference dir) for a zoo name or a local model dir."""
    p = Path(name_or_path)
    if p.exists():
        return p.name, p
    name = ALIASES.get(name_or_path, name_or_path)
    if name not in MODELS:
        raise LiteError(f"unknown model {name_or_path!r}; give a local inference model dir or one of "
                        f"{', '.join(sorted(MODELS))}")
    if name == "ch_ppocr_mobile_v2.0_cls":
        from lite.demo import fetch_cls_model  # the same official files, sha256-pinned

        return name, fetch_cls_model()
    raise LiteError(f"{name}: no download wired yet; pass --model DIR")
