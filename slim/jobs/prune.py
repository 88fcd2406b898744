"""The prune jobs, looked up by model family; importing this module registers them."""
from __future__ import annotations

from lite.errors import LiteError

from slim.jobs import prune_det, prune_rec  # noqa: F401 - each registers its job
from slim.jobs.registry import PRUNE_JOBS, PruneJob


def prune_job(family: str) -> PruneJob:
    if family not in PRUNE_JOBS:
        raise LiteError(f"slim prune: no prune job for {family}; this version prunes {', '.join(sorted(PRUNE_JOBS))}")
    return PRUNE_JOBS[family]
