"""`lite bench`: latency on x86, executed ARM instructions on emulated targets."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .errors import LiteError
from .nbfile import read_nb
from .targets import emulation_options, get_target, is_emulated


def _target(name: str, threads: int, cpu: str, power_mode: str, count: bool):
    opts = {"threads": threads, "power_mode": power_mode, **emulation_options(name, cpu=cpu, count=count)}
    return get_target(name, **opts)


def _summary(res, target, warmup, repeats) -> dict:
    out = dict(target.describe())
    out.update(warmup=warmup, repeats=repeats)
    if target.emulated:
        out.update(res.extra)
        if res.instructions:
            counts = np.asarray(res.instructions, dtype=np.float64)
            med = float(np.median(counts))
            out["instructions_per_run"] = int(round(med))
            out["instructions_spread"] = float((counts.max() - counts.min()) / med) if med else 0.0
    else:
        t = np.asarray(res.times_ms)
        out["latency_ms"] = {"median": float(np.median(t)), "p90": float(np.percentile(t, 90)),
                             "min": float(t.min()), "max": float(t.max())}
    return out


def bench(nb: str, target: str = "x86", threads: int = 1, warmup: int = 1, repeats: int = 10,
          inputs: dict | None = None, shapes: dict | None = None, cpu: str = "generic",
          power_mode: str = "no_bind") -> dict:
    from .inputs import default_inputs

    count = not (is_emulated(target) and threads != 1)  # inline counting across emulated threads races
    t = _target(target, threads, cpu, power_mode, count)
    info = read_nb(nb)
    feed = inputs or default_inputs(info, shapes)[0]
    with t.load(nb) as s:
        s.run(feed)
        res = s.bench(warmup, repeats)
    out = _summary(res, t, warmup, repeats)
    out["model"] = nb
    if t.emulated and threads != 1:
        out["note"] = "instructions are counted with 1 thread only"
    return out


def compare(nb_a: str, nb_b: str, target: str = "x86", threads: int = 1, warmup: int = 1,
            repeats: int = 10, shapes: dict | None = None, cpu: str = "generic",
            power_mode: str = "no_bind", rounds: int = 5) -> dict:
    """Both models measured in one run; ratio = B / A. On x86 the repeats of A
    and B are interleaved in rounds so drift hits both alike."""
    from .inputs import default_inputs

    t = _target(target, 1 if is_emulated(target) else threads, cpu, power_mode, True)
    infos = [read_nb(nb_a), read_nb(nb_b)]
    feeds = [default_inputs(i, shapes)[0] for i in infos]
    sessions = [t.load(nb_a), t.load(nb_b)]
    try:
        if t.emulated:
            def count(session, feed):
                session.run(feed)
                session.bench(warmup, 0)
                return session.bench(0, repeats)

            # counts do not depend on timing: the two emulators run at once, a core each
            with ThreadPoolExecutor(2) as ex:
                results = list(ex.map(count, sessions, feeds))
            a, b = (_summary(r, t, warmup, repeats) for r in results)
            key = "instructions_per_run"
            if key not in a or key not in b:
                raise LiteError("instruction counts unavailable; the qemu plugin did not report")
            ratio = b[key] / a[key]
        else:
            for s, f in zip(sessions, feeds):
                s.run(f)
                s.bench(warmup, 0)
            per = max(1, repeats // rounds)
            times: list[list[float]] = [[], []]
            for _ in range(rounds):
                for i, s in enumerate(sessions):
                    times[i] += s.bench(0, per).times_ms
            from .targets.base import BenchResult

            a, b = (_summary(BenchResult(ts), t, warmup, len(ts)) for ts in times)
            key = "latency_ms"
            ratio = b[key]["median"] / a[key]["median"]
    finally:
        for s in sessions:
            s.close()
    a["model"], b["model"] = nb_a, nb_b
    return {"target": t.name, "metric": key, "a": a, "b": b, "ratio": ratio}
