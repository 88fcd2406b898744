"""`lite opt`: a Paddle inference model to a `.nb`, through Paddle Lite's opt."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .atomic import atomic_path
from .errors import LiteError
from .model_dir import InferenceModel, locate, program_ops
from .nbfile import clean_version_field, read_nb
from .nb_compact import compact_nb
from .program_strip import strip_program

VALID_TARGETS = {"arm": "arm", "x86": "x86"}
QUANT_TYPES = {"int8": "QUANT_INT8", "int16": "QUANT_INT16"}


def _opt_exe() -> str:
    cand = Path(sys.executable).parent / "paddle_lite_opt"
    if cand.is_file():
        return str(cand)
    found = shutil.which("paddle_lite_opt")
    if not found:
        raise LiteError("paddle_lite_opt not found; install the pinned runtime: pip install paddlelite==2.13rc0")
    return found


def unsupported_ops(model: InferenceModel, target: str) -> list[str]:
    """Ops of the model that opt has no kernel for on `target` (asks opt itself)."""
    cmd = [_opt_exe(), "--print_model_ops=true", f"--valid_targets={VALID_TARGETS[target]}"]
    if model.params_file:
        cmd += [f"--model_file={model.model_file}", f"--param_file={model.params_file}"]
    else:
        cmd += [f"--model_dir={model.model_dir}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    text = p.stdout + p.stderr
    if "supports this model" in text and "not" not in text.split("supports this model")[0].splitlines()[-1]:
        return []
    missing = []
    in_table = False
    for line in text.splitlines():
        if line.strip().startswith("OP_name"):
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if not parts or not re.fullmatch(r"[\w.]+", parts[0]):
                in_table = False
                continue
            if "Y" not in parts[1:]:
                missing.append(parts[0])
    m = re.search(r"unsupported ops are: (.*)", text)
    if m:  # opt's own summary line names them
        missing = sorted(set(missing) | set(re.findall(r"'([\w.]+)'", m.group(1))))
    if not missing and p.returncode != 0:
        raise LiteError(f"{model.model_dir}: opt could not read the model: {text.strip().splitlines()[-1] if text.strip() else p.returncode}")
    return missing


# Other opt versions run from their own interpreters (the 2.10 wheel stops at
# Python 3.9); the set-up script makes `.venv39`.
OPT_PYTHONS = {"v2.10-rc": ("OCRSLIM_OPT_PYTHON_V2_10", ".venv39/bin/python")}
PIP_OPT_VERSION = "v2.13-rc"


def _opt_python(version: str | None) -> str:
    if not version or version == PIP_OPT_VERSION:
        return sys.executable
    if version not in OPT_PYTHONS:
        raise LiteError(f"unknown --opt-version {version!r}; use {PIP_OPT_VERSION} or {', '.join(OPT_PYTHONS)}")
    env, rel = OPT_PYTHONS[version]
    from .paths import REPO_ROOT

    py = os.environ.get(env) or str(REPO_ROOT / rel)
    if not Path(py).is_file():
        raise LiteError(f"the {version} opt is not installed: run scripts/setup.sh (needs Python 3.9), "
                        f"or set {env} to a Python with paddlelite=={version[1:].replace('-rc', 'rc0')}")
    return py


def default_out(model: InferenceModel, target: str, quant_weights: str | None) -> Path:
    suffix = f"_{target}" + (f"_w{quant_weights}" if quant_weights else "")
    return Path("output") / "lite" / f"{model.name}{suffix}.nb"


def opt(model: str | os.PathLike, target: str = "arm", quant_weights: str | None = None,
        out: str | os.PathLike | None = None, check_ops: bool = True,
        opt_version: str | None = None, keep_attrs: bool = False, compact: bool | None = None) -> Path:
    """Convert an inference model; returns the written `.nb` path. Unless
    keep_attrs, attributes Paddle Lite never reads are dropped first (see
    program_strip) and the written program is re-encoded compactly (see
    nb_compact), which makes the `.nb` smaller and nothing else."""
    if compact is None:  # the program as opt writes it only when asked to keep the attributes
        compact = not keep_attrs
    if target not in VALID_TARGETS:
        raise LiteError(f"unknown opt target {target!r}; use arm or x86")
    if quant_weights and quant_weights not in QUANT_TYPES:
        raise LiteError(f"unknown --quant-weights {quant_weights!r}; use int8 or int16")
    python = _opt_python(opt_version)
    m = locate(model)
    program_ops(m.model_file)  # a truncated or foreign file fails here with its name
    if check_ops:
        missing = unsupported_ops(m, target)
        if missing:
            raise LiteError(f"{m.model_dir}: Paddle Lite has no {target} kernel for op(s) {', '.join(missing)}; "
                            "replace them in the network or export with a supported equivalent")
    out = Path(out) if out else default_out(m, target, quant_weights)
    if out.suffix != ".nb":
        raise LiteError(f"{out}: the output must end in .nb")
    with atomic_path(out, suffix=".nb") as tmp, tempfile.TemporaryDirectory(prefix="opt.") as work:
        src = m.model_dir  # named in errors, whatever opt reads
        if not keep_attrs:
            m = _stripped(m, Path(work))
        stem = str(tmp)[:-3]
        job = {"model_file": str(m.model_file), "params_file": str(m.params_file) if m.params_file else None,
               "model_dir": str(m.model_dir), "valid_targets": VALID_TARGETS[target],
               "quant_type": QUANT_TYPES.get(quant_weights or ""), "out_stem": stem}
        worker = str(Path(__file__).with_name("_opt_worker.py"))  # runs without `lite` installed
        p = subprocess.run([python, worker, json.dumps(job)],
                           capture_output=True, text=True, timeout=1800)
        if p.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            from .protocol import fatal_reason
            raise LiteError(f"{src}: opt failed: {fatal_reason(p.stderr + p.stdout)}")
        data = tmp.read_bytes()
        clean = clean_version_field(compact_nb(data) if compact else data)  # the same model, the same bytes
        if clean != data:
            tmp.write_bytes(clean)
        read_nb(tmp)  # the written file must parse whole
    return out


def _stripped(m: InferenceModel, work: Path) -> InferenceModel:
    """A view of the model whose program lacks the unread attributes; the
    user's files are only read (parameters are linked, not copied)."""
    data, removed = strip_program(m.model_file.read_bytes())
    if not removed:
        return m
    if m.params_file:  # combined params: opt takes the two paths
        (work / m.model_file.name).write_bytes(data)
        return InferenceModel(work / m.model_file.name, m.params_file, m.model_dir)
    for f in m.model_dir.iterdir():  # one file per parameter: opt reads the whole dir
        if f.name != m.model_file.name:
            (work / f.name).symlink_to(f.resolve())
    (work / m.model_file.name).write_bytes(data)
    return InferenceModel(work / m.model_file.name, None, work)
