"""The OCR bundle a phone app loads: det, cls and rec `.nb` files, the rec
dictionary and `manifest.json` (model names, pre- and post-processing
parameters, opt versions, sizes and sha256 of every file).

Optionally each model's Paddle inference files ride along under
`inference/<stage>/` so the same system can run on Paddle Inference; they
are not counted in the bundle's `.nb` bytes and a phone app ignores them.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_dir
from .download import sha256_file as sha256
from .errors import LiteError
from .nb_compact import compact_nb
from .nbfile import read_nb

FORMAT = "ocrslim-bundle/1"
MANIFEST = "manifest.json"
DICT_FILE = "rec_dict.txt"
STAGES = ("det", "cls", "rec")
REQUIRED = ("det", "rec")

DEFAULTS = {
    "det": {"preprocess": {"limit_side_len": 960, "limit_type": "max", "mean": [0.485, 0.456, 0.406],
                           "std": [0.229, 0.224, 0.225], "channel_order": "BGR"},
            "postprocess": {"algorithm": "DB", "thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5}},
    "cls": {"preprocess": {"image_shape": [3, 48, 192], "mean": 0.5, "std": 0.5},
            "postprocess": {"labels": ["0", "180"], "cls_thresh": 0.9}},
    "rec": {"preprocess": {"height": 32, "min_width": 320, "mean": 0.5, "std": 0.5},
            "postprocess": {"algorithm": "CTC", "drop_score": 0.5}},
}


@dataclass
class ModelSpec:
    """What goes into a bundle for one stage."""
    nb: Path
    name: str
    precision: str = "float"                 # float, int8, pruned, pruned+int8
    inference: Path | None = None            # its Paddle inference model dir, optional
    preprocess: dict | None = None           # overrides of DEFAULTS
    postprocess: dict | None = None
    classes: int | None = None               # rec: the model's output size, when known
    source: str = ""


def write_bundle(out: str | Path, models: dict[str, ModelSpec], dictionary: str | Path | None = None,
                 note: str = "") -> Path:
    """Gather the files into `out` (replaced atomically) and write the manifest."""
    from .ocr.rec import charset_for, dict_file, read_dict

    missing = [s for s in REQUIRED if s not in models]
    if missing:
        raise LiteError(f"a bundle needs a {' and a '.join(missing)} model")
    unknown = [s for s in models if s not in STAGES]
    if unknown:
        raise LiteError(f"unknown stage {unknown[0]!r}; a bundle holds {', '.join(STAGES)}")
    if dictionary is None:
        raise LiteError("the rec model needs its dictionary (a PaddleOCR dict file, one character per line)")
    chars = read_dict(dictionary)
    infos = {stage: read_nb(m.nb) for stage, m in models.items()}
    for stage, m in models.items():
        _check_role(stage, m.nb, infos[stage])
    rec = models["rec"]
    classes = rec.classes or _output_size(infos["rec"])
    use_space = charset_for(dictionary, classes, rec.name).use_space if classes else None
    manifest = {"format": FORMAT, "note": note, "models": {}}
    out = Path(out)
    with atomic_dir(out) as tmp:
        total = 0
        for stage in STAGES:
            if stage not in models:
                continue
            m = models[stage]
            dest = tmp / f"{stage}.nb"
            # a .nb from an older opt run is re-encoded as `lite opt` now writes it
            # (nb_compact: same parameters, bit-identical outputs; a no-op when it already is)
            dest.write_bytes(compact_nb(Path(m.nb).read_bytes()))
            info = infos[stage] = read_nb(dest)
            total += info.bytes
            d = DEFAULTS[stage]
            entry = {"model": m.name, "file": dest.name, "bytes": info.bytes, "sha256": sha256(dest),
                     "opt_version": info.opt_version, "valid_targets": info.targets, "precision": m.precision,
                     "source": m.source, "preprocess": {**d["preprocess"], **(m.preprocess or {})},
                     "postprocess": {**d["postprocess"], **(m.postprocess or {})}}
            if m.inference is not None:
                entry["inference"] = _copy_inference(m.inference, tmp / "inference" / stage, tmp)
            manifest["models"][stage] = entry
        shutil.copyfile(dict_file(dictionary), tmp / DICT_FILE)
        manifest["models"]["rec"].update(
            dictionary={"file": DICT_FILE, "sha256": sha256(tmp / DICT_FILE), "characters": len(chars),
                        "source": Path(dictionary).name},
            classes=classes, use_space_char=use_space)
        manifest["nb_bytes"] = total
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


# Output rank of each stage: det a [N, 1, H, W] map, cls [N, 2], rec [N, T, classes].
_RANK = {"det": 4, "cls": 2, "rec": 3}


def _output_size(info) -> int | None:
    shapes = list(info.output_shapes.values())
    return shapes[0][-1] if shapes and shapes[0] and shapes[0][-1] > 0 else None


def _check_role(stage: str, nb: Path, info) -> None:
    """A det .nb given as rec (or any such swap) is caught by its output's rank."""
    shapes = list(info.output_shapes.values())
    if shapes and shapes[0] and len(shapes[0]) != _RANK[stage]:
        role = {v: k for k, v in _RANK.items()}.get(len(shapes[0]), "unknown")
        raise LiteError(f"{nb}: its output has rank {len(shapes[0])} (a {role} model), not what a {stage} "
                        f"model gives; pass it as --{role if role != 'unknown' else stage}")


def _copy_inference(src: Path, dest: Path, root: Path) -> dict:
    from .model_dir import locate

    m = locate(src)
    dest.mkdir(parents=True)
    files = {}
    for f in (m.model_file, m.params_file):
        if f is not None:
            name = "model" + f.suffix  # one naming, whatever the source used
            shutil.copyfile(f, dest / name)
            files[name] = sha256(dest / name)
    return {"dir": str(dest.relative_to(root)), "files": files}


@dataclass
class Bundle:
    root: Path
    manifest: dict

    def nb(self, stage: str) -> Path:
        return self.root / self.manifest["models"][stage]["file"]

    def nbs(self) -> dict[str, Path]:
        return {s: self.nb(s) for s in self.manifest["models"]}

    def inference_dirs(self) -> dict[str, Path]:
        ms = self.manifest["models"]
        missing = [s for s in ms if "inference" not in ms[s]]
        if missing:
            raise LiteError(f"{self.root}: no Paddle inference model for {', '.join(missing)} in this bundle; "
                            "run it on a Lite target, or rebuild it with `slim bundle` from job outputs")
        return {s: self.root / ms[s]["inference"]["dir"] for s in ms}

    def charset(self):
        from .ocr.rec import Charset, read_dict

        rec = self.manifest["models"]["rec"]
        path = self.root / rec["dictionary"]["file"]
        # model size unknown at bundling (None): a space class is assumed, decode checks it at the first run
        return Charset(read_dict(path), rec.get("use_space_char") is not False, str(path))

    @property
    def nb_bytes(self) -> int:
        return int(self.manifest["nb_bytes"])

    def params(self):
        from .ocr.system import SystemParams

        return SystemParams.from_manifest(self.manifest)


def open_bundle(path: str | Path, check: bool = True) -> Bundle:
    """Read and verify a bundle: every file present with its recorded size and
    sha256, the dictionary of the size the rec model needs."""
    root = Path(path)
    mf = root / MANIFEST
    if not mf.is_file():
        raise LiteError(f"{root}: not a bundle (no {MANIFEST}); make one with `slim bundle --out {root}`")
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except ValueError as e:
        raise LiteError(f"{mf}: not valid JSON ({e}); rebuild the bundle with `slim bundle`") from None
    if manifest.get("format") != FORMAT:
        raise LiteError(f"{mf}: format {manifest.get('format')!r}, this version reads {FORMAT}; rebuild the bundle")
    models = manifest.get("models", {})
    for s in REQUIRED:
        if s not in models:
            raise LiteError(f"{mf}: no {s} model; rebuild the bundle with `slim bundle`")
    if check:
        for stage, m in models.items():
            _check_file(root / m["file"], m["sha256"], m.get("bytes"))
            for name, digest in m.get("inference", {}).get("files", {}).items():
                _check_file(root / m["inference"]["dir"] / name, digest)
        d = models["rec"]["dictionary"]
        _check_file(root / d["file"], d["sha256"])
        classes = models["rec"].get("classes")
        if classes is not None:
            from .ocr.rec import charset_for

            charset_for(root / d["file"], int(classes), f"the rec model {models['rec']['model']}")
    return Bundle(root, manifest)


def _check_file(p: Path, digest: str, size: int | None = None) -> None:
    if not p.is_file():
        raise LiteError(f"{p}: missing from the bundle; rebuild it with `slim bundle`")
    if size is not None and p.stat().st_size != size:
        raise LiteError(f"{p}: {p.stat().st_size:,} bytes but the manifest says {size:,}; the file was changed "
                        "or truncated, rebuild the bundle with `slim bundle`")
    if sha256(p) != digest:
        raise LiteError(f"{p}: sha256 does not match the manifest; the file was changed, rebuild the bundle "
                        "with `slim bundle`")
