"""Worker processes for independent pieces of a job (one layer of the
sensitivity scan, one mixed-precision candidate): each worker receives the
job's payload once, then runs its methods on small arguments. Spawned, not
forked: a forked paddle (threads, static-mode state) is not safe."""
from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from tqdm import tqdm

_PAYLOAD = None
MAX_PAYLOAD = 256 << 20  # bytes of calibration and ranking data sent to each worker; more: work in-process


def log(msg: str) -> None:
    """A line of job progress that does not break the progress bars."""
    tqdm.write(msg, file=sys.stderr)


def cores(cap: int) -> int:
    return min(os.cpu_count() or 1, cap)


def _init(payload) -> None:
    global _PAYLOAD
    _PAYLOAD = payload


def call(method: str, *args):
    """Runs `payload.method(*args)` in a worker: submit as pool.submit(call, "method", ...)."""
    return getattr(_PAYLOAD, method)(*args)


def payload_bytes(calib, reader) -> int:
    """What a payload of calibration arrays and a labelled reader weighs."""
    return calib.nbytes + sum(getattr(img, "nbytes", 0) for img, _ in reader)


def payload_pool(n: int, payload) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(n, mp_context=get_context("spawn"), initializer=_init, initargs=(payload,))


def wind_down(pool: ProcessPoolExecutor) -> None:
    """Ends a pool without waiting and moves a task still under way to the
    lowest CPU priority: the ARM gate that follows needs every core. Not
    killed: paddle answers SIGTERM with a fatal-signal report, and SIGKILL
    leaves the worker's semaphores for the resource tracker to complain about."""
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            os.setpriority(os.PRIO_PROCESS, p.pid, 19)
        except (ProcessLookupError, PermissionError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)
