"""Worker processes for independent pieces of a job (one layer of the
sensitivity scan, one mixed-precision candidate): each worker receives the
job's payload once, then runs its methods on small arguments. Spawned, not
forked: a forked paddle (threads, static-mode state) is not safe.

A quant job's phases (PTQ search, scan, mixed candidates) share one set of
workers (job_pool, phase_pool): a spawned worker spends about 4 s of CPU
importing paddle, so three pools of two cost about 12 s of a 3-minute job,
and a pool spawned at the job's start imports while the start-up leaves
cores idle."""
from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

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


_JOB: "_JobPool | None" = None
_LOADED: tuple = (None, None)  # in a worker: (payload file, payload)


def _warm() -> None:
    import numpy  # noqa: F401 - before paddle, as everywhere
    import paddle  # noqa: F401 - the import is the point: a worker's first task should not pay it


def _call_file(path: str, method: str, *args):
    """`call` for a shared worker: the phase's payload is read from its file once per worker."""
    global _LOADED
    if _LOADED[0] != path:
        _LOADED = (path, pickle.loads(Path(path).read_bytes()))
    return getattr(_LOADED[1], method)(*args)


class _JobPool:
    def __init__(self, n: int, work: Path):
        self.n, self.work, self.pool, self.ids = n, Path(work), None, itertools.count()

    def executor(self) -> ProcessPoolExecutor:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(self.n, mp_context=get_context("spawn"))
            for _ in range(self.n):  # one task per worker spawns them all now
                self.pool.submit(_warm)
        return self.pool

    def view(self, payload) -> "_PhaseView":
        path = self.work / f"payload_{next(self.ids)}.pkl"
        path.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        return _PhaseView(self, str(path))

    def close(self) -> None:
        if self.pool is not None:
            wind_down(self.pool)
            self.pool = None


class _PhaseView:
    """A phase's handle on the job's workers: `submit(call, "method", ...)`
    as on a payload_pool; leaving it keeps the workers for the next phase."""

    def __init__(self, job: _JobPool, path: str):
        self.job, self.path = job, path

    def submit(self, fn, method: str, *args):
        assert fn is call, "a phase view runs payload methods"
        return self.job.executor().submit(_call_file, self.path, method, *args)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@contextlib.contextmanager
def job_pool(n: int, work: Path):
    """Workers shared by the job's phases (phase_pool), spawned now."""
    global _JOB
    _JOB = _JobPool(n, work) if n > 1 else None
    if _JOB is not None:
        _JOB.executor()
    try:
        yield
    finally:
        if _JOB is not None:
            _JOB.close()
        _JOB = None


def phase_pool(n: int, payload):
    """The job's shared workers with this payload when a job_pool is open
    (and has as many), else a pool of its own."""
    if _JOB is not None and n <= _JOB.n:
        return _JOB.view(payload)
    return payload_pool(n, payload)


def wind_down(pool) -> None:
    """Ends a pool without waiting and moves a task still under way to the
    lowest CPU priority: the ARM gate that follows needs every core. Not
    killed: paddle answers SIGTERM with a fatal-signal report, and SIGKILL
    leaves the worker's semaphores for the resource tracker to complain about."""
    if isinstance(pool, _PhaseView):  # the job's workers: the next phase spawns new ones
        pool.job.close()
        return
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            os.setpriority(os.PRIO_PROCESS, p.pid, 19)
        except (ProcessLookupError, PermissionError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)
