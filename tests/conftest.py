"""Shared fixtures. Real models and runtimes come from ../shared (override with
OCRSLIM_SHARED); every test skips with a clear message only where a file is
truly absent there."""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lite.paths import REPO_ROOT, shared_dir

SHARED = shared_dir()
CLS_MODEL = SHARED / "models" / "ch_ppocr_mobile_v2.0_cls"
RUNTIMES = SHARED / "lite-runtime"
CLS_SHAPE = (1, 3, 48, 192)


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (set OCRSLIM_SHARED to the shared models folder)")
    return path


def lite_cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the real `lite` CLI as a user would."""
    return subprocess.run([sys.executable, "-m", "lite.cli", *args], capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=timeout, cwd=REPO_ROOT)


@pytest.fixture(scope="session", autouse=True)
def lite_home(tmp_path_factory):
    """A private cache with the shared ARM runtimes registered and runners built."""
    home = tmp_path_factory.mktemp("ocrslim_home")
    os.environ["OCRSLIM_HOME"] = str(home)
    from lite import runtimes

    if RUNTIMES.is_dir():
        for d in sorted(RUNTIMES.glob("paddlelite-*-armlinux")):
            for rt in runtimes.add(d):
                runtimes.build_runner(rt)
    return home


@pytest.fixture(scope="session")
def cls_model() -> Path:
    return need(CLS_MODEL / "inference.pdmodel").parent


@pytest.fixture(scope="session")
def nb_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("nb")


@pytest.fixture(scope="session")
def cls_arm_nb(cls_model, nb_dir) -> Path:
    from lite.opt import opt

    return opt(cls_model, target="arm", out=nb_dir / "cls_arm.nb")


@pytest.fixture(scope="session")
def cls_x86_nb(cls_model, nb_dir) -> Path:
    from lite.opt import opt

    return opt(cls_model, target="x86", out=nb_dir / "cls_x86.nb")


@pytest.fixture(scope="session")
def cls_v210_nb(cls_model, nb_dir) -> Path:
    """A .nb written by the 2.10 opt, as the official v2.0-era slim files were."""
    from lite.opt import opt

    return opt(cls_model, target="arm", out=nb_dir / "cls_arm_v210.nb", opt_version="v2.10-rc")


@pytest.fixture(scope="session")
def cls_int8_nb(cls_model, nb_dir, tmp_path_factory) -> Path:
    """A fully int8 .nb: real PaddleSlim post-training quantization of the cls model
    (8 seeded random calibration batches; accuracy is not the point here)."""
    out = tmp_path_factory.mktemp("ptq")
    code = f"""
import numpy as np, paddle
from paddleslim.quant import quant_post_static
paddle.enable_static()
class DS(paddle.io.Dataset):
    def __init__(self):
        self.x = np.random.RandomState(0).uniform(-1, 1, size=(8,) + {CLS_SHAPE}[1:]).astype('float32')
    def __len__(self):
        return len(self.x)
    def __getitem__(self, i):
        return self.x[i]
x = paddle.static.data(name='x', shape=[None] + list({CLS_SHAPE}[1:]), dtype='float32')
loader = paddle.io.DataLoader(DS(), feed_list=[x], batch_size=1, return_list=False, shuffle=False)
exe = paddle.static.Executor(paddle.CPUPlace())
quant_post_static(executor=exe, model_dir='{cls_model}', quantize_model_path='{out}',
                  model_filename='inference.pdmodel', params_filename='inference.pdiparams',
                  save_model_filename='inference.pdmodel', save_params_filename='inference.pdiparams',
                  data_loader=loader, batch_nums=8, algo='abs_max',
                  weight_quantize_type='channel_wise_abs_max', onnx_format=False)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    from lite.opt import opt

    return out, opt(out, target="arm", out=nb_dir / "cls_int8_arm.nb")


@pytest.fixture()
def server(tmp_path):
    """A local HTTP server over a folder: a mirror of official downloads."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
