"""The job's worker processes: a quant job's phases share one set (each
spawned worker spends seconds importing paddle), each phase with its own
payload; winding the workers down for the ARM gate ends them."""
import functools
import os

from slim.workers import call, job_pool, phase_pool, wind_down


def _pids(view, n=6):
    return {view.submit(call, "__call__").result() for _ in range(n)}


def test_phases_share_the_job_workers_with_their_own_payloads(tmp_path):
    getpid = functools.partial(os.getpid)  # a payload whose method runs in the worker
    with job_pool(2, tmp_path):
        first = phase_pool(2, getpid)
        seen = _pids(first)
        text = phase_pool(2, "int8")
        assert text.submit(call, "upper").result() == "INT8"  # this phase's payload, not the last one's
        seen |= _pids(phase_pool(2, getpid))
        assert os.getpid() not in seen and 1 <= len(seen) <= 2  # the same two workers throughout
        wind_down(first)  # the gate's turn: the workers end, and a later phase gets new ones
        after = _pids(phase_pool(2, getpid))
        assert after and not after & seen
    # outside a job, a phase gets a pool of its own
    alone = phase_pool(2, getpid)
    try:
        assert not _pids(alone) & (seen | after)
    finally:
        alone.shutdown()
