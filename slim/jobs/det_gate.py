"""The det prune job's gate: the labelled sets, each model's hmean on them
(x86 `.nb` on every set in full, the ARM `.nb` on an evenly spread subset),
the official pruned model's hmean (a comparison row: scored after the job,
timed apart), and a worker that scores the float side while the pruned
network fine-tunes.

The fine-tune keeps about one core busy (Paddle's dygraph CPU kernels), and
the float side does not depend on it: scoring it on the other core takes
minutes off the job. Results go to the job cache, where the main process
reads them after the fine-tune, so an interrupted run keeps them too."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from lite.atomic import write_bytes
from lite.evaluate import eval_det_inference, eval_det_nb
from lite.paths import home, shared_dir

from slim.data import det_data, sources
from slim.data.det_pool import net_hmean
from slim.recipe import PruneRecipe

REFERENCE = "ch_ppocr_mobile_v2.0_det_prune"


def eval_sets(recipe: PruneRecipe, data: list[str] | None) -> list:
    """The gate sets: the user's labelled photos (--data, or `data.gate`), else
    the synthetic eval split with a notice; `data.synthetic` adds the
    synthetic split beside real sets as a secondary row."""
    sets = [det_data.labelled(p) for p in (data or recipe.data.gate)]
    if not sets:
        sources.fallback("labelled photos", "--data", "gate")
        return [det_data.synthetic(recipe.eval.synthetic, "eval", (recipe.prune.input_size,) * 2)]
    if recipe.data.synthetic:
        extra = det_data.synthetic(recipe.data.synthetic, "eval", (recipe.prune.input_size,) * 2)
        extra.secondary = True
        sets.append(extra)
    return sets


def rank_and_subset(recipe: PruneRecipe, sets: list) -> tuple:
    """(the set the gate ranks on: the main sets together, its evenly spread ARM subset)."""
    from lite.readers import ListReader, evenly

    main = [st for st in sets if not getattr(st, "secondary", False)]
    rank = main[0] if len(main) == 1 else ListReader("+".join(st.name for st in main), [i for st in main for i in st])
    return rank, evenly(rank, recipe.eval.nb_subset, f"{rank.name}-arm{recipe.eval.nb_subset or ''}")


def sets_key(sets: list) -> str:
    h = hashlib.sha256()
    for st in sets:
        h.update(st.name.encode())
        for img, gt in st:
            h.update(hashlib.sha256(np.ascontiguousarray(img)).digest())
            h.update(json.dumps(gt, sort_keys=True).encode())
    return h.hexdigest()[:16]


def cached(cache: Path | None, compute):
    """compute(), kept in `cache` (a rerun, or the float model of every run on one job, skips it)."""
    if cache is not None and cache.is_file():
        return json.loads(cache.read_text())
    value = compute()
    if cache is not None:
        write_bytes(cache, json.dumps(value).encode())
    return value


def _det_scores(r: dict) -> dict:
    return {k: r[k] for k in ("hmean", "precision", "recall", "matched", "gt", "det", "per_image")}


def side_scores(recipe, sets, rank, subset, nb: dict, tag: str, cache: Path | None, workers: int = 2) -> dict:
    """One model's hmean: on every gate set in full through the x86 `.nb`
    (float `.nb` files agree with the ARM one), and on the ARM subset through
    the ARM `.nb`, its x86 `.nb` and Paddle Inference, side by side."""
    lim = recipe.eval.limit_side_len

    def x86(st):
        return _det_scores(eval_det_nb(str(nb["x86"]), st, target="x86", workers=workers, limit_side_len=lim,
                                       desc=f"{tag} .nb on x86: {st.name}"))

    def arm():
        return {"nb_arm": _det_scores(eval_det_nb(str(nb["arm"]), subset, target=recipe.eval.target, workers=workers,
                                                  limit_side_len=lim, desc=f"{tag} .nb on ARM: {subset.name}")),
                "nb_x86": x86(subset)["hmean"],
                "inference": eval_det_inference(str(nb["dir"]), subset, lim)["hmean"]}

    main = [rank] + [st for st in sets if st.name != rank.name]
    # "x86p": results with per-image counts (the drop's bootstrap interval); older caches lack them
    full = {st.name: cached(cache and cache / f"x86p-{tag}-{sets_key([st])}-{lim}.json", lambda st=st: x86(st))
            for st in main}
    sub = cached(cache and cache / f"arm-{tag}-{sets_key([subset])}-{lim}-{recipe.eval.target}.json", arm)
    return {"per_set": full, "subset": {"name": subset.name, "size": len(subset), **sub}}


def reference_model() -> dict | None:
    """The official pruned detector, when ../shared has it: FLOPs, params, and the network."""
    f = shared_dir() / "models" / REFERENCE / "model.onnx"
    if not f.is_file():
        return None
    from slim.nets.det_db import DBNet, widths_from_list
    from slim.nets.weights import load_weights, read_weights

    src = read_weights(f)
    net = DBNet(widths_from_list(src), with_thresh=True)
    load_weights(net, f, REFERENCE, src)
    net.eval()
    return {"name": REFERENCE, "net": net, "source": str(f)}


def reference_scores(ref: dict, sets: list, rank, lim: int) -> dict:
    """The official pruned model's hmean per gate set (dygraph; cached across jobs)."""
    return {st.name: cached(home() / "jobs" / "reference" / f"{ref['name']}-{sets_key([st])}-{lim}.json",
                            lambda st=st: net_hmean(ref["net"], st.items, lim))
            for st in [rank] + [x for x in sets if x.name != rank.name]}


class FloatSide:
    """Picklable payload for one spawned worker: rebuilds the gate sets from
    their paths and fills the job cache with the float model's scores."""

    def __init__(self, recipe: PruneRecipe, data: list[str], nb: dict, job: Path):
        self.recipe, self.data, self.nb, self.job = recipe, data, nb, job

    def score(self) -> None:
        import os

        os.environ.setdefault("OMP_NUM_THREADS", "1")  # the fine-tune has the other core
        sets = eval_sets(self.recipe, self.data)
        rank, subset = rank_and_subset(self.recipe, sets)
        side_scores(self.recipe, sets, rank, subset, self.nb, "float", self.job, workers=1)


def start_float_side(recipe: PruneRecipe, data: list[str], nb: dict, job: Path):
    """Starts FloatSide in a worker; returns `wait()`, which re-raises its error.
    Only for real gate sets (the synthetic ones are small) on two cores or more."""
    from slim.workers import call, cores, payload_pool

    if not (data or recipe.data.gate) or cores(2) < 2:
        return lambda: None
    ex = payload_pool(1, FloatSide(recipe, list(data or recipe.data.gate), nb, job))
    fut = ex.submit(call, "score")

    def wait():
        try:
            fut.result()
        finally:
            ex.shutdown()

    return wait
