"""Post-training static quantization with PaddleSlim (`quant_post_static`)."""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np

from lite.model_dir import locate

ALGOS = {"KL", "hist", "avg", "mse", "emd", "abs_max", "min_max"}
ROUNDINGS = {"round", "adaround"}


def parse_algo(entry: str) -> tuple[str, str]:
    """'hist' -> ('hist', 'round'); 'hist+adaround' -> ('hist', 'adaround')."""
    algo, _, rounding = entry.partition("+")
    return algo, rounding or "round"


def quiet_paddleslim() -> None:
    """paddleslim's loggers carry their own stderr handlers (redirecting
    sys.stderr misses them) and print per-op INFO lines; our bars are enough."""
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and name.startswith(("paddleslim", "paddle")):
            lg.setLevel(logging.ERROR)


def _zero_d_tensors_as_1d() -> None:
    """Paddle 2.6's `avg` sampling reshapes every sampled tensor by its first
    dim; a 0-d one (PP-OCRv4 rec slices its sequence length out of a `shape`,
    and slice is among the ops whose outputs get a scale) raises IndexError.
    Read those as one-element 1-D arrays: the value is an integer shape, never
    quantized, and every other tensor is read as before."""
    from paddle.static.quantization import post_training_quantization as ptq_mod

    load = ptq_mod.utils.load_variable_data
    if getattr(load, "_zero_d_as_1d", False):
        return

    def load_1d(scope, name):
        a = load(scope, name)
        return a.reshape(1) if a.ndim == 0 else a

    load_1d._zero_d_as_1d = True
    ptq_mod.utils.load_variable_data = load_1d


def calibration_arrays(reader, preprocess, limit: int) -> np.ndarray:
    xs = [preprocess(img) for i, (img, _) in enumerate(reader) if i < limit]
    return np.stack(xs)


def quant_post_static(model_dir: str | Path, out_dir: str | Path, calib: np.ndarray, algo: str,
                      weight_quantize_type: str = "channel_wise_abs_max", batch_size: int = 16,
                      skip: list[str] | None = None, round_type: str = "round",
                      op_types: list[str] | None = None) -> Path:
    """Quantize an inference model with `algo`; writes inference.pdmodel/.pdiparams to out_dir.
    `skip`: weight names whose ops stay float (mixed precision); round_type
    "adaround" learns the weight rounding on the calibration data."""
    import paddle
    from paddleslim.quant import quant_post_static as _qps

    from slim.graph.static_program import static_mode

    quiet_paddleslim()  # its loggers exist once paddleslim is imported
    _zero_d_tensors_as_1d()
    m = locate(model_dir)
    with static_mode():
        class _DS(paddle.io.Dataset):
            def __len__(self):
                return len(calib)

            def __getitem__(self, i):
                return calib[i]

        program = paddle.static.Program()
        with paddle.static.program_guard(program):
            x = paddle.static.data(name="x", shape=[None, *calib.shape[1:]], dtype="float32")
        # paddle 2.6's quant_post_static only takes a DataLoader bound to a feed_list
        loader = paddle.io.DataLoader(_DS(), feed_list=[x], batch_size=batch_size, return_list=False, shuffle=False)
        exe = paddle.static.Executor(paddle.CPUPlace())
        paddle.seed(0)
        np.random.seed(0)
        batches = (len(calib) + batch_size - 1) // batch_size
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            _qps(executor=exe, model_dir=str(m.model_dir), quantize_model_path=str(out_dir),
                 model_filename=m.model_file.name, params_filename=m.params_file.name if m.params_file else None,
                 save_model_filename="inference.pdmodel", save_params_filename="inference.pdiparams",
                 data_loader=loader, batch_nums=batches, algo=algo, hist_percent=0.9999,
                 weight_quantize_type=weight_quantize_type, onnx_format=False, is_full_quantize=False,
                 skip_tensor_list=list(skip) if skip else None, round_type=round_type,
                 quantizable_op_type=list(op_types or ["conv2d", "depthwise_conv2d", "mul"]))
    return Path(out_dir)
