"""The jobs the CLI can run, by name: prune jobs per model family (each
module registers its own), and `slim bench`'s default runs. Nothing outside
this file maps a job or family name to code."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class PruneJob:
    family: str                      # the model family it prunes (slim/families/)
    default_recipe: str              # recipes/ file
    load_recipe: Callable            # (path | None, default_name) -> recipe
    run: Callable                    # (recipe, model, data, out, images, calib) -> report dict
    summary: Callable[[dict], str]   # the CLI's one-line result
    failure: Callable[[dict], str]   # the CLI's error line when the gate failed


PRUNE_JOBS: dict[str, PruneJob] = {}


def register_prune(job: PruneJob) -> PruneJob:
    PRUNE_JOBS[job.family] = job
    return job


@dataclass(frozen=True)
class Bench:
    """`slim bench NAME`: the job and recipe it runs on the real sets, and the
    report kind (acceptance.kind) whose targets it checks."""
    verb: str          # quant or prune
    family: str
    recipe: str = ""   # "" = the family's default for the model


BENCHES = {
    "cls": Bench("quant", "cls", "cls_quant.yaml"),
    "det_mobile": Bench("prune", "det"),
    "det_mobile_prune_quant": Bench("quant", "det", "det_mobile_prune_quant.yaml"),
    "rec": Bench("quant", "rec"),
}
