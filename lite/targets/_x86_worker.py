"""The x86 target's worker: Paddle Lite's pip runtime behind the runner protocol.

Runs in its own process because importing paddle and paddlelite together can
crash. Inputs are set with resize + set_float_data and read back: with some
numpy versions `from_numpy` silently copies nothing.
"""
import os
import struct
import sys
import time

import numpy as np


def main() -> int:
    model = sys.argv[1]  # argv 2, 3: threads and power mode, which the pip MobileConfig cannot take
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # keep Paddle Lite's log lines off the protocol channel
    inp = sys.stdin.buffer
    pred = _load(model, out)
    if pred is None:
        return 3
    ins, outs = pred.get_input_names(), pred.get_output_names()
    out.write(f"READY {pred.get_version()}\t{','.join(ins)}\t{','.join(outs)}\n".encode())
    out.flush()

    def read(n):
        b = inp.read(n)
        if len(b) != n:
            raise EOFError
        return b

    while True:
        line = inp.readline().decode()
        if not line:
            return 0
        verb, *args = line.split()
        try:
            if verb == "QUIT":
                return 0
            if verb == "RUN":
                _run(pred, len(ins), len(outs), int(args[0]), read, out)
            elif verb == "BENCH":
                _bench(pred, int(args[0]), int(args[1]), out)
            else:
                raise ValueError(f"unknown command {verb}")
        except EOFError:
            return 4
        except Exception as e:  # noqa: BLE001
            out.write(("ERROR " + str(e).replace("\n", " ") + "\n").encode())
            out.flush()


def _load(model: str, out):
    """The predictor, or None after one ERROR line. The pip MobileConfig has no
    set_threads/set_power_mode: threads come from OMP_NUM_THREADS (set by the
    parent), power modes are an ARM notion."""
    try:
        from paddlelite.lite import MobileConfig, create_paddle_predictor

        cfg = MobileConfig()
        cfg.set_model_from_file(model)
        return create_paddle_predictor(cfg)
    except Exception as e:  # noqa: BLE001 - every load failure goes back as one line
        out.write(f"ERROR load failed: {e}\n".replace("\n", " ").encode() + b"\n")
        out.flush()
        return None


def _run(pred, n_in: int, n_out: int, n_arrays: int, read, out) -> None:
    arrays = []
    for _ in range(n_arrays):
        rank, = struct.unpack("<i", read(4))
        dims = struct.unpack(f"<{rank}q", read(8 * rank))
        n = int(np.prod(dims)) if rank else 1
        arrays.append(np.frombuffer(read(4 * n), dtype=np.float32).reshape(dims))
    if len(arrays) != n_in:
        raise ValueError(f"model has {n_in} inputs, got {len(arrays)}")
    for i, arr in enumerate(arrays):
        t = pred.get_input(i)
        t.resize(list(arr.shape))
        t.set_float_data(arr.ravel().tolist())
        back = np.asarray(t.numpy(), dtype=np.float32).reshape(arr.shape)
        if not np.array_equal(back, arr):
            raise RuntimeError("input copy into the predictor did not take")
    pred.run()
    out.write(f"OK {n_out}\n".encode())
    for i in range(n_out):
        arr = np.asarray(pred.get_output(i).numpy())
        code = {np.dtype(np.int32): b"i", np.dtype(np.int64): b"l"}.get(arr.dtype, b"f")
        arr = arr.astype({b"i": np.int32, b"l": np.int64, b"f": np.float32}[code])
        out.write(code + struct.pack("<i", arr.ndim) + struct.pack(f"<{arr.ndim}q", *arr.shape))
        out.write(np.ascontiguousarray(arr).tobytes())
    out.flush()


def _bench(pred, warmup: int, repeats: int, out) -> None:
    for _ in range(warmup):
        pred.run()
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pred.run()
        ms.append((time.perf_counter() - t0) * 1000.0)
    out.write(f"OK {repeats}\n".encode() + np.asarray(ms, dtype=np.float64).tobytes())
    out.flush()


if __name__ == "__main__":
    sys.exit(main())
