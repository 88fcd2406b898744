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


def payload_pool(n: int, payload) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(n, mp_context=get_context("spawn"), initializer=_init, initargs=(payload,))
