"""How far a metric difference between two models moves when the test items
are drawn again: a paired bootstrap (the same draw for both models), so a
gate's drop comes with the noise of the set it was measured on."""
from __future__ import annotations

from typing import Callable

import numpy as np


def mean_of(rows: np.ndarray) -> np.ndarray:
    """The metric of per-item scores that average (accuracy, 1 - edit distance): [rounds, n] -> [rounds]."""
    return rows.mean(axis=1)


def paired_bootstrap(a, b, metric: Callable[[np.ndarray], np.ndarray] = mean_of, rounds: int = 2000,
                     seed: int = 0) -> dict:
    """metric(a) - metric(b) over `rounds` redraws of the items with
    replacement. `a`, `b`: per-item scores of two models on the same items,
    [n] or [n, k]; `metric` turns a [rounds, n, ...] stack into [rounds]
    values. Returns the standard deviation and the 2.5 / 97.5 percentiles."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or not len(a):
        raise ValueError("paired_bootstrap needs scores of the same items for both models")
    idx = np.random.RandomState(seed).randint(0, len(a), (rounds, len(a)))
    diff = metric(a[idx]) - metric(b[idx])
    return {"std": float(diff.std()), "low": float(np.percentile(diff, 2.5)),
            "high": float(np.percentile(diff, 97.5)), "rounds": rounds}


def drop_interval(base, slim, metric: Callable[[np.ndarray], np.ndarray], items: str) -> dict:
    """A report's `drop_interval`: paired_bootstrap of metric(base) -
    metric(slim) in points, named by what was redrawn (`items`: "gate images")."""
    r = paired_bootstrap(base, slim, metric)
    return {"low": 100 * r["low"], "high": 100 * r["high"], "std": 100 * r["std"],
            "method": f"paired bootstrap over the {len(slim)} {items}, {r['rounds']} rounds"}
