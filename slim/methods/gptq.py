"""Weight rounding for Paddle Lite's weight-only int8 `.nb` (opt --quant_model,
QUANT_INT8): opt stores each conv2d / fc / matmul weight as int8 with one
abs-max scale per output channel and the runtime dequantizes it when the
model loads, so the arithmetic stays float.

opt rounds to nearest. Here the weights are rounded beforehand, onto the
same per-channel grids, by GPTQ (Frantar et al., 2022): columns are rounded
one at a time and each one's error is spread over the columns not yet
rounded, weighted by the inverse Hessian X X^T of the layer's input on the
calibration crops, which minimises the error of the layer's output rather
than of its weights. Scales come from an MSE search of the clip per row.

opt then re-derives each row's scale as its abs max / 127, so every row must
hold a code of +-127: a row that lost it under error feedback takes plain
rounding instead. Conv + batch_norm fusion in opt scales whole rows, which
keeps a row on its grid; its ARM conv + conv fusion (a 1x1 conv right after a
conv without activation) multiplies two filters, and opt rounds that product
to nearest (the v2.0 cls: 1 of 43 layers; PP-OCRv4 rec: none). Depthwise
convs are left float, as opt leaves them. The gate measures the `.nb` itself."""
from __future__ import annotations

from pathlib import Path

import numpy as np

CLIPS = np.linspace(0.5, 1.0, 51)  # share of a row's abs max tried as its clip


def mse_clip(w2: np.ndarray) -> np.ndarray:
    """Per row of w2 [rows, cols]: the clip (int8 code 127) with the least squared rounding error."""
    m = np.abs(w2).max(1)
    m = np.where(m > 0, m, 1.0)
    best, err = m.copy(), None
    for f in CLIPS:
        s = (m * f / 127)[:, None]
        e = ((np.clip(np.round(w2 / s), -127, 127) * s - w2) ** 2).sum(1)
        if err is None:
            err = e
            continue
        better = e < err
        best, err = np.where(better, m * f, best), np.where(better, e, err)
    return best


def round_rows(w2: np.ndarray, H: np.ndarray | None, damp: float = 0.01) -> tuple[np.ndarray, int]:
    """w2 [rows, cols] rounded onto per-row int8 grids (dequantized values);
    with H [cols, cols] by GPTQ, else to nearest. Returns (values, rows that fell back to nearest)."""
    clip = mse_clip(w2)
    s = (clip / 127)[:, None]
    nearest = np.clip(np.round(w2 / s), -127, 127) * s
    if H is None:
        return nearest, 0
    W = w2.astype(np.float64)
    n = W.shape[1]
    H = H.copy()
    dead = np.diag(H) == 0  # inputs that are always zero (padding rows of a 1-row map)
    H[dead, dead] = 1.0
    H += damp * np.mean(np.diag(H)) * np.eye(n)
    U = np.linalg.cholesky(np.linalg.inv(H)).T  # upper factor: H^-1 = U^T U
    Q = np.zeros_like(W)
    for i in range(n):
        q = np.clip(np.round(W[:, i] / s[:, 0]), -127, 127) * s[:, 0]
        Q[:, i] = q
        W[:, i + 1:] -= np.outer((W[:, i] - q) / U[i, i], U[i, i + 1:])
    lost = np.abs(np.round(Q / s)).max(1) < 127
    Q[lost] = nearest[lost]
    return Q, int(lost.sum())


def _im2col(x: np.ndarray, kh: int, kw: int, stride, pad, dil) -> np.ndarray:
    """[N, C, H, W] -> [C*kh*kw, N*Ho*Wo], in the order of a filter reshaped to [O, C*kh*kw]."""
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    n, c, h, w = x.shape
    ho = (h - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w - dil[1] * (kw - 1) - 1) // stride[1] + 1
    cols = np.empty((c, kh, kw, n, ho, wo), np.float32)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i * dil[0]: i * dil[0] + stride[0] * ho: stride[0],
                      j * dil[1]: j * dil[1] + stride[1] * wo: stride[1]]
            cols[:, i, j] = patch.transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, -1)


def _layers(sm) -> list[tuple]:
    """(op, weight name, input name, weight) of the layers opt quantizes weight-only."""
    from slim.graph.static_program import param

    out = []
    for op in sm.block.ops:
        if op.type == "conv2d" and op.attr("groups") == 1 and len(op.attr("paddings")) == 2:
            name, x = op.input("Filter")[0], op.input("Input")[0]
        elif op.type in ("matmul_v2", "mul") and not (op.type == "matmul_v2" and (op.attr("trans_x") or op.attr("trans_y"))):
            name, x = op.input("Y")[0], op.input("X")[0]
        else:
            continue
        w = param(sm, name)
        if w is not None and (w.ndim == 4 or w.ndim == 2):
            out.append((op, name, x, w))
    return out


def _rows(op, w: np.ndarray) -> np.ndarray:
    """A weight as [output channels, inputs]: conv filters are [O, C, kh, kw], fc weights [in, out]."""
    return w.reshape(w.shape[0], -1) if op.type == "conv2d" else w.T


def gptq_round_model(model_dir: str | Path, out_dir: str | Path, calib: np.ndarray, damp: float = 0.01,
                     batch_size: int = 16, method: str = "gptq") -> tuple[Path, dict]:
    """A copy of the float inference model in `model_dir` whose conv2d and fc
    weights lie on per-output-channel int8 grids (method gptq, or nearest:
    MSE clip and plain rounding); written to out_dir. Returns (out_dir, stats)."""
    from tqdm import tqdm

    from slim.graph.static_program import set_param
    from slim.graph.static_program import open_inference_model

    with open_inference_model(model_dir) as sm:
        layers = _layers(sm)
        H: dict[str, np.ndarray] = {}
        if method == "gptq":
            for b in range(0, len(calib), batch_size):
                xs = sm.exe.run(sm.prog, feed={sm.feeds[0]: calib[b:b + batch_size]},
                                fetch_list=[x for _, _, x, _ in layers], scope=sm.scope)
                for (op, name, _, w), x in zip(layers, xs):
                    if op.type == "conv2d":
                        X = _im2col(x, w.shape[2], w.shape[3], op.attr("strides"), op.attr("paddings"),
                                    op.attr("dilations"))
                    else:
                        X = x.reshape(-1, x.shape[-1]).T
                    X = X.astype(np.float64)
                    H[name] = H.get(name, 0.0) + X @ X.T
        fallback = 0
        for op, name, _, w in tqdm(layers, desc=f"int8 weight rounding ({method})", unit="layer", leave=False):
            q, lost = round_rows(_rows(op, w), H.get(name), damp)
            fallback += lost
            set_param(sm, name, (q.reshape(w.shape) if op.type == "conv2d" else q.T).astype(np.float32))
        sm.save(Path(out_dir) / "inference")
    return Path(out_dir), {"layers": len(layers), "rows_rounded_to_nearest": fallback, "method": method}
