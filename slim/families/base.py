"""A model family (cls, det, rec): what every job needs to know about it and
nothing else: its eval and calibration data, how a `.nb` or an inference
model is scored, the shape a benchmark feeds, how QAT distils it, and its
default recipes and CLI name. The jobs in slim/jobs/ are the same for every
family; families register themselves here (slim/families/{cls,det,rec}.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lite.errors import LiteError

from lite.readers import ListReader
from lite.stats import mean_of
from lite.targets import is_emulated

FAMILIES: dict[str, type] = {}


def register(cls):
    FAMILIES[cls.task] = cls
    return cls


@dataclass
class Models:
    """`baseline`: the float model the int8 one is judged against; `source`:
    the float model that is quantized (the pruned one when a prune recipe
    runs first, else the baseline itself)."""
    name: str
    baseline: Path
    source: Path
    pruning: dict | None = None
    prepared: dict = field(default_factory=dict)  # exact float transforms applied to `source` before calibration


class Family:
    task = ""            # the family's name in recipes (`task: det`) and reports
    cli_name = ""        # the job name on the command line (`slim quant det_mobile`)
    metric = ""
    metrics: tuple = ()  # other metrics `gate.metric` may name (rec)
    unit = "images"
    official_stage = ""  # the official slim .nb a report compares with (slim/families/zoo.py), if any
    quant_recipe = ""    # recipes/ file `slim quant` runs by default
    model_recipes: dict = {}  # models with a quant recipe of their own: zoo name -> recipes/ file
    prunable = False     # a quant recipe may name a prune recipe to run first (`prune:`)
    bench_repeats = 1    # ARM instruction runs per model (1: the count repeats to 0.01 %)
    report_latency = False  # report.json also carries the float x86 latency at top level

    def default_recipe(self, model: str | None) -> str:
        if model:
            from slim.families.model_source import model_name

            return self.model_recipes.get(model_name(model), self.quant_recipe)
        return self.quant_recipe

    def models(self, recipe, model: str | None, work: Path) -> Models:
        raise NotImplementedError

    def bind(self, recipe, models: Models) -> None:
        """Learn what the data depends on from the model (rec: dictionary, height)."""

    def after_ptq(self, qdir: Path, recipe) -> Path:
        """A last storage rewrite of each candidate (int8 arithmetic or weight-only) before it is compiled."""
        return qdir

    # What the data flags mean for this task: the recipe key of the real
    # calibration source, its CLI flag and what it holds (for the notice).
    calib_key, calib_flag, calib_what = "calib", "--calib", "word crops"

    def eval_sets(self, recipe, data: list[str] | None) -> list[ListReader]:
        """The gate sets: the user's labelled sets (--data, or `data.gate`),
        else the task's synthetic eval split with a notice; `data.synthetic`
        adds a synthetic split beside real sets, as a secondary row."""
        from slim.data import sources

        sets = [self.gate_set(p) for p in (data or recipe.data.gate)]
        if not sets:
            sources.fallback(f"labelled {self.unit}", "--data", "gate")
            return [self.synthetic_eval(recipe, recipe.gate.eval_synthetic)]
        if recipe.data.synthetic:
            extra = self.synthetic_eval(recipe, recipe.data.synthetic)
            extra.secondary = True
            sets.append(extra)
        return sets

    def rank_set(self, sets: list) -> ListReader:
        """The gate sets pooled (secondary synthetic rows left out): candidates
        are ranked on it with Paddle Inference, and the ARM gate scores an
        evenly spread subset of it."""
        main = [s for s in sets if not getattr(s, "secondary", False)]
        if len(main) == 1:
            return main[0]
        return ListReader("+".join(s.name for s in main), [it for s in main for it in s])

    def calibration_source(self, recipe) -> str:
        return getattr(recipe.data, self.calib_key)

    def calibration_reader(self, recipe, n: int, split: str = "calib") -> ListReader:
        """Real calibration data when the recipe names it, else synthetic with a notice."""
        from slim.data import sources

        src = self.calibration_source(recipe)
        if src:
            return self.real_calibration(src, n)
        sources.fallback(self.calib_what, self.calib_flag, self.calib_key)
        return self.synthetic_calibration(n, split)

    def calibration(self, recipe, n: int) -> np.ndarray:
        from slim.methods.ptq import calibration_arrays

        return calibration_arrays(self.calibration_reader(recipe, n), self.calib_preprocess, n)

    def sensitivity_set(self, recipe, n: int) -> ListReader:
        """Labelled items for the per-layer scan: real calibration-side data
        when given (never the gate sets), else synthetic."""
        src = self.calibration_source(recipe)
        return self.real_calibration(src, n) if src else self.synthetic_eval(recipe, n, "sens")

    def selection_set(self, recipe) -> ListReader | None:
        """A labelled set that ranks the candidates (Paddle Inference), never
        the gate set: `gate.select_size` items of the real calibration source
        held out of calibration. None without one (then the gate sets rank
        them, as with synthetic data, and the report says so)."""
        src = self.calibration_source(recipe)
        if not src or not recipe.gate.select_size:
            return None
        sel = self.real_selection(src, recipe.quant.calib_size, recipe.gate.select_size)
        return sel if sel is not None and len(sel) else None  # calibration took every item: nothing held out

    def real_selection(self, path: str, calib_size: int, n: int) -> ListReader | None:
        return None

    def gate_set(self, path: str) -> ListReader:
        raise NotImplementedError

    def synthetic_eval(self, recipe, n: int, split: str = "eval") -> ListReader:
        raise NotImplementedError

    def real_calibration(self, path: str, n: int) -> ListReader:
        raise NotImplementedError

    def synthetic_calibration(self, n: int, split: str = "calib") -> ListReader:
        raise NotImplementedError

    def calib_preprocess(self, img: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def evaluate_nb(self, nb: str, reader, recipe, target: str, desc: str) -> dict:
        """lite's evaluation of `nb` on `reader`: at least `value` (the gate
        metric) and `per_item` (each item's part of it, for `item_metric`)."""
        raise NotImplementedError

    def score_nb(self, nb: str, reader, recipe, target: str, desc: str) -> float:
        return self.evaluate_nb(nb, reader, recipe, target, desc)["value"]

    # [rounds, n, ...] stacks of per_item scores -> the metric of each (a paired bootstrap's statistic)
    item_metric = staticmethod(mean_of)

    @staticmethod
    def gate_cpu(recipe, target: str) -> str:
        """The kernels an emulated gate scores on (`gate.score_cpu`, else `gate.cpu`)."""
        return (recipe.gate.score_cpu or recipe.gate.cpu) if is_emulated(target) else "generic"

    def evaluate_inference(self, model_dir: str, reader, recipe) -> dict:
        """lite's Paddle Inference evaluation of `model_dir` on `reader`, with
        `value` and `per_item` as evaluate_nb gives them."""
        raise NotImplementedError

    def score_inference(self, model_dir: str, reader, recipe) -> float:
        return self.evaluate_inference(model_dir, reader, recipe)["value"]

    def bench_shapes(self, recipe) -> dict:
        raise NotImplementedError

    def fixed_height(self) -> int | None:
        """The input height every crop is resized to (cls, rec), which lets
        the stride-(2, 1) depthwise split (dw_stride) bake it in; None: free (det)."""
        return None

    def qat_setup(self, source: Path):
        """(student, teacher, loss(student_out, teacher_out, F), input_shape) for QAT."""
        raise NotImplementedError

    def qat_labelled(self, recipe, n: int):
        """(pool, Labelled) for a QAT fine-tune with labels: up to `n` labelled
        calibration-side items, the held-out selection items left out; None
        where the task has no label loss or the crops carry no labels."""
        return None

    def synthetic_anchor(self, recipe, n: int) -> np.ndarray:
        """Synthetic calibration-side crops for QAT's distillation anchor (`qat.anchor`):
        label-free, they hold the student to the float model off the pool's domain."""
        from slim.methods.ptq import calibration_arrays

        return calibration_arrays(self.synthetic_calibration(n, "calib"), self.calib_preprocess, n)

    def eval_key(self, recipe) -> list:
        """What, beside the model and the items, decides an evaluation's
        result (cached scores are keyed by it)."""
        g = recipe.gate
        return [self.metric, g.metric, g.case_insensitive, g.limit_side_len]

    def report_extra(self, recipe) -> dict:
        """Task-specific facts for report.json."""
        return {}

    def bundle_facts(self, report) -> tuple[dict | None, int | None, str | None]:
        """(preprocess, classes, dictionary) a bundle's manifest records for a
        model of this family, from its job's report (slim/report/schema.Report)."""
        return None, None, None
