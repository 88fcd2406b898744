"""What `slim quant` needs to know about a task, and nothing else: its eval
and calibration data, how a `.nb` or an inference model is scored, the
shape a benchmark feeds, and how QAT distils it. The job in quant_job.py is
the same for every task; tasks register themselves here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lite.errors import LiteError
from lite.paths import shared_dir

from lite.readers import ListReader

TASKS: dict[str, "QuantTask"] = {}


def register(cls):
    TASKS[cls.task] = cls()
    return cls


def get_task(task: str) -> "QuantTask":
    if task not in TASKS:
        raise LiteError(f"slim quant: no task {task!r}; this version quantizes {', '.join(sorted(TASKS))}")
    return TASKS[task]


@dataclass
class Models:
    """`baseline`: the float model the int8 one is judged against; `source`:
    the float model that is quantized (the pruned one when a prune recipe
    runs first, else the baseline itself)."""
    name: str
    baseline: Path
    source: Path
    pruning: dict | None = None


class QuantTask:
    task = ""
    metric = ""
    unit = "images"

    def models(self, recipe, model: str | None, work: Path) -> Models:
        raise NotImplementedError

    def eval_sets(self, recipe, data: str | None) -> list[ListReader]:
        raise NotImplementedError

    def gate_value(self, per_set: dict[str, float], sets: list) -> float:
        """One number per candidate from its per-set scores."""
        raise NotImplementedError

    def rank_set(self, sets: list) -> ListReader:
        """The set candidates are ranked on with Paddle Inference (and the gate measured on)."""
        raise NotImplementedError

    def calibration(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def sensitivity_set(self, n: int) -> ListReader:
        raise NotImplementedError

    def score_nb(self, nb: str, reader, recipe, target: str, desc: str) -> float:
        raise NotImplementedError

    def score_inference(self, model_dir: str, reader, recipe) -> float:
        raise NotImplementedError

    def bench_shapes(self, recipe) -> dict:
        raise NotImplementedError

    def qat_setup(self, source: Path):
        """(student, teacher, loss(student_out, teacher_out, F), input_shape) for QAT."""
        raise NotImplementedError


@register
class ClsQuant(QuantTask):
    task, metric, unit = "cls", "accuracy", "crops"

    def models(self, recipe, model, work):
        from .model_source import inference_dir

        name, d = inference_dir(model or recipe.model, "cls", work)
        return Models(name, d, d)

    def eval_sets(self, recipe, data):
        from .data import cls_data

        if data:
            return [cls_data.user_data(data)]
        sets = [cls_data.synthetic(recipe.gate.eval_synthetic, "eval")]
        real = cls_data.real_crops(shared_dir())
        if real is not None:
            sets.append(real)
        return sets

    def gate_value(self, per_set, sets):
        return sum(per_set[s.name] * len(s) for s in sets) / sum(len(s) for s in sets)

    def rank_set(self, sets):
        return ListReader("+".join(s.name for s in sets), [it for s in sets for it in s])

    def calibration(self, n):
        from lite.ocr.cls import preprocess

        from .data import cls_data
        from .ptq import calibration_arrays

        return calibration_arrays(cls_data.synthetic(n, "calib"), preprocess, n)

    def sensitivity_set(self, n):
        from .data import cls_data

        return cls_data.synthetic(n, "eval")

    def score_nb(self, nb, reader, recipe, target, desc):
        from lite.evaluate import eval_nb

        return eval_nb(nb, reader, target=target, desc=desc)["value"]

    def score_inference(self, model_dir, reader, recipe):
        from lite.evaluate import eval_inference

        return eval_inference(model_dir, reader)["value"]

    def bench_shapes(self, recipe):
        return {"x": (1, 3, 48, 192)}

    def qat_setup(self, source):
        from .model_source import load_network

        def kl(out, t, F):  # eval-mode teacher gives probabilities; the training student, logits
            import paddle

            return (t * (paddle.log(t + 1e-8) - F.log_softmax(out, axis=1))).sum(axis=1).mean()

        return load_network("cls", source), load_network("cls", source), kl, [None, 3, 48, 192]


@register
class DetQuant(QuantTask):
    """The DB detector. Calibration scenes are synthetic at 320x320 (a split
    disjoint from the eval scenes); the gate is hmean on the synthetic eval
    split, as for pruning; the real ICDAR images are reported beside it."""
    task, metric, unit = "det", "hmean", "images"
    CALIB_SIDE = 320

    def models(self, recipe, model, work):
        from .model_source import export_inference

        if recipe.prune:
            from .prune_job import pruned_network
            from .recipe import load_prune_recipe

            prune_recipe = load_prune_recipe(_beside(recipe.prune, getattr(recipe, "source", None)))
            name, teacher, student, info = pruned_network(prune_recipe, model or prune_recipe.model)
            from .pruning import flops, params

            shape = [1, 3, prune_recipe.prune.input_size, prune_recipe.prune.input_size]
            info.update(params={"float": params(teacher), "pruned": params(student)},
                        flops={"float": flops(teacher, shape), "pruned": flops(student, shape)}, flops_input=shape)
            base = export_inference(teacher, work / "float", [None, 3, None, None])
            src = export_inference(student, work / "pruned", [None, 3, None, None])
            return Models(name, base, src, pruning=info)
        name, d = _det_dir(model or recipe.model, work)
        return Models(name, d, d)

    def eval_sets(self, recipe, data):
        from .data import det_data

        return det_data.eval_sets(data, recipe.gate.eval_synthetic, self.CALIB_SIDE)

    def gate_value(self, per_set, sets):
        return per_set[sets[0].name]

    def rank_set(self, sets):
        return sets[0]

    def calibration(self, n):
        from lite.ocr.det import preprocess

        from .data import det_data
        from .ptq import calibration_arrays

        pool = det_data.synthetic(n, "pool", (self.CALIB_SIDE,) * 2)
        return calibration_arrays(pool, lambda img: preprocess(img, self.CALIB_SIDE)[0][0], n)

    def sensitivity_set(self, n):
        from .data import det_data

        return det_data.synthetic(n, "sens", (self.CALIB_SIDE,) * 2)

    def score_nb(self, nb, reader, recipe, target, desc):
        from lite.evaluate import eval_det_nb

        return eval_det_nb(nb, reader, target=target, limit_side_len=recipe.gate.limit_side_len, desc=desc)["hmean"]

    def score_inference(self, model_dir, reader, recipe):
        from lite.evaluate import eval_det_inference

        return eval_det_inference(model_dir, reader, recipe.gate.limit_side_len)["hmean"]

    def bench_shapes(self, recipe):
        return {"x": tuple(recipe.gate.bench_shape or (1, 3, 640, 640))}

    def qat_setup(self, source):
        from .distill import _loss
        from .model_source import load_det

        def bce_dice(out, t, F):  # the probability map against the float model's
            return _loss(out[:, :1], t[:, :1], F)

        return load_det(str(source))[1], load_det(str(source))[1], bce_dice, [None, 3, None, None]


def _beside(name: str, recipe_file: Path | None) -> Path:
    """A recipe named inside another: a path, else a file beside it or in recipes/."""
    from .recipe import RECIPES_DIR

    p = Path(name)
    for cand in (p, (recipe_file.parent / name) if recipe_file else None, RECIPES_DIR / name):
        if cand is not None and cand.is_file():
            return cand
    return p  # load_prune_recipe names it in its error


def _det_dir(model: str, work: Path) -> tuple[str, Path]:
    """An inference dir for a det model: used as is when it is one, else the
    DB network rebuilt from the weights (zoo name, ONNX, .pdparams) and exported."""
    from .model_source import export_inference, load_det
    from .zoo import get, resolve

    p = Path(model)
    if p.is_dir() and (any(p.glob("*.pdmodel")) or (p / "__model__").is_file()):
        return p.name, p
    if not p.exists() and get(model).task == "det":  # a zoo name: its inference model as published
        return resolve(model)
    name, net = load_det(model)
    return name, export_inference(net, work / "float", [None, 3, None, None])
