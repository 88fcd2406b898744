"""The quant job's gate: a candidate's ARM `.nb` scored on the gate subset
against the float model on the same items, and the float model's own scores
(computed beside the PTQ search, cached per weights and eval sets)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from lite.atomic import write_bytes
from lite.opt import opt
from lite.readers import ListReader
from lite.stats import drop_interval

from slim.methods.base import Candidate
from slim.workers import log


class Gate:
    """The metric of a candidate's ARM `.nb` on the gate subset (an evenly
    spread subset of the pooled gate sets, `gate.nb_subset`; all of it when
    0), against the float model's on the same items. The float model is
    scored through its x86 `.nb` (float `.nb` files agree with the ARM one:
    tests), so emulated ARM time goes to the int8 candidates alone."""

    def __init__(self, recipe, family, reader: ListReader, cache: Path | None = None):
        self.recipe, self.family, self.reader = recipe, family, reader
        self.cache = cache  # a folder for this reader's results, by .nb bytes (None: none kept)
        self.baseline_future = None  # float_baseline(), running beside the first method
        self.log: list[dict] = []
        self.items: dict[str, list] = {}  # each measured .nb's per-item scores, for the drop's interval
        self.cached: set[str] = set()  # the .nb files whose scores came from the cache

    @property
    def base(self) -> float:
        return self.baseline_future.result()["acc"]

    def measure(self, nb: Path, label: str, target: str | None = None) -> float:
        return self.evaluate(nb, label, target)["value"]

    def evaluate(self, nb: Path, label: str, target: str | None = None) -> dict:
        """The family's evaluation of `nb` on the gate items; a `.nb` with the
        same bytes was scored before on this target and these items (an
        interrupted job's rerun, a bench run again): read from the cache."""
        target = target or self.recipe.gate.target
        where = f"{label} .nb on {target}: {self.reader.name}"
        file = self._cache_file(Path(nb), target)
        if file is not None and file.is_file():
            r = json.loads(file.read_text())
            self.cached.add(str(nb))
            log(f"  {where}: scored before ({file})")
        else:
            r = self.family.evaluate_nb(str(nb), self.reader, self.recipe, target, where)
            if file is not None:
                write_bytes(file, json.dumps(r, default=_plain).encode())
        self.items[str(nb)] = r["per_item"]
        return r

    def _cache_file(self, nb: Path, target: str) -> Path | None:
        if self.cache is None:
            return None
        h = hashlib.sha256(nb.read_bytes())  # opt writes the same bytes for the same model (lite.opt)
        h.update(json.dumps([target, self.family.gate_cpu(self.recipe, target), *self.family.eval_key(self.recipe)],
                            default=str).encode())
        return self.cache / f"{h.hexdigest()[:16]}.json"

    def drop_interval(self, nb: Path) -> dict | None:
        """How far the float-minus-`nb` drop (points) moves when the gate items
        are drawn again: a paired bootstrap over the same items for both."""
        base = self.baseline_future.result().get("items")
        mine = self.items.get(str(nb))
        if base is None or mine is None or len(base) != len(mine):
            return None
        return drop_interval(base, mine, self.family.item_metric, f"gate {self.family.unit}")

    def check(self, cand: Candidate) -> bool:
        value = self.measure(Path(cand.nb), cand.algo)
        drop = self.base - value
        ok = drop <= self.recipe.gate.max_drop_points / 100.0 + 1e-12
        self.log.append({"algo": cand.algo, "float_layers": cand.float_layers,
                         "accuracy_nb_arm": value, "drop_points": 100 * drop, "passed": ok,
                         "scored_before": str(Path(cand.nb)) in self.cached})
        log(f"  gate {cand.algo}: ARM .nb {self.family.metric} {value:.4f} on {len(self.reader)} {self.family.unit}, "
            f"drop {100 * drop:+.2f} points" + ("" if ok else " (over budget)"))
        cand.accuracy_nb_arm = value
        return ok


def float_baseline(model_dir: Path, name: str, stage: Path, gate: Gate, sets: list, rank: ListReader,
                   cache: Path) -> dict:
    """Float `.nb` files and their scores through the x86 `.nb`: on the gate
    subset and on every eval set in full (cached in `cache`, per weights and
    eval sets); needs only the float model, so it runs beside the PTQ search
    (in a thread: no paddle calls here, its static/dygraph mode is per thread)."""
    r = gate.recipe
    float_arm = opt(model_dir, target="arm", out=stage / f"{name}_float_arm.nb")
    float_x86 = opt(model_dir, target="x86", out=stage / f"{name}_float_x86.nb")
    if cache.is_file():
        got = json.loads(cache.read_text())
    else:
        family = gate.family
        full = {s.name: family.evaluate_nb(str(float_x86), s, r, "x86", f"float .nb on x86: {s.name}") for s in sets}
        # the pooled set and the gate subset hold the same crops again: their scores are read
        # off the sets' per-item ones (a float rec crop is ~0.3 s on x86 for PP-OCRv4)
        if rank.name not in full:
            full[rank.name] = read_off_sets(family, rank, sets, full) or family.evaluate_nb(
                str(float_x86), rank, r, "x86", f"float .nb on x86: {rank.name}")
        on_gate = read_off_sets(family, gate.reader, sets, full) or gate.evaluate(float_x86, "float", "x86")
        got = {"acc": on_gate["value"], "items": on_gate["per_item"], "per": {k: v["value"] for k, v in full.items()}}
        write_bytes(cache, json.dumps(got).encode())
    return {"arm": float_arm, "x86": float_x86, **got}


def _plain(o):
    """JSON for numpy values in an evaluation's result."""
    return o.tolist() if hasattr(o, "tolist") else str(o)


def read_off_sets(family, reader: ListReader, sets: list, full: dict) -> dict | None:
    """`reader`'s score from the scored sets' per-item ones, when each of its
    items is one of theirs (evenly() and rank_set() hand out the sets' own
    objects); None otherwise."""
    where = {id(item): (s.name, i) for s in sets for i, item in enumerate(s)}
    picked = [where.get(id(item)) for item in reader]
    if not picked or None in picked:
        return None
    name = picked[0][0]
    if picked == [(name, i) for i in range(len(full[name]["per_item"]))]:
        return full[name]  # a set itself (nb_subset 0): its own result, metric as scored
    items = [full[name]["per_item"][i] for name, i in picked]
    return {"value": float(family.item_metric(np.asarray([items], dtype=float))[0]), "per_item": items}
