"""What `slim quant` needs to know about a task, and nothing else: its eval
and calibration data, how a `.nb` or an inference model is scored, the
shape a benchmark feeds, and how QAT distils it. The job in quant_job.py is
the same for every task; tasks register themselves here."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lite.errors import LiteError

from lite.readers import ListReader

TASKS: dict[str, type] = {}


def register(cls):
    TASKS[cls.task] = cls
    return cls


def get_task(task: str) -> "QuantTask":
    """A fresh adapter per job (rec keeps the model's dictionary and input height)."""
    if task not in TASKS:
        raise LiteError(f"slim quant: no task {task!r}; this version quantizes {', '.join(sorted(TASKS))}")
    return TASKS[task]()


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


class QuantTask:
    task = ""
    metric = ""
    unit = "images"
    official_stage = ""  # the official slim .nb a report compares with (slim/families/zoo.py), if any

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

    def score_nb(self, nb: str, reader, recipe, target: str, desc: str) -> float:
        raise NotImplementedError

    def score_inference(self, model_dir: str, reader, recipe) -> float:
        raise NotImplementedError

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

    def report_extra(self, recipe) -> dict:
        """Task-specific facts for report.json."""
        return {}


@register
class ClsQuant(QuantTask):
    task, metric, unit = "cls", "accuracy", "crops"
    official_stage = "cls"

    def models(self, recipe, model, work):
        from slim.families.model_source import inference_dir

        name, d = inference_dir(model or recipe.model, "cls", work)
        return Models(name, d, d)

    def gate_set(self, path):
        from slim.data import cls_data

        return cls_data.gate_set(path)

    def synthetic_eval(self, recipe, n, split="eval"):
        from slim.data import cls_data

        return cls_data.synthetic(n, "eval" if split == "sens" else split)

    def real_calibration(self, path, n):
        from slim.data import cls_data

        return cls_data.real_calibration(path, n)

    def synthetic_calibration(self, n, split="calib"):
        from slim.data import cls_data

        return cls_data.synthetic(n, "calib")

    def real_selection(self, path, calib_size, n):
        from lite.readers import held_out

        from slim.data import cls_data, sources

        words = sources.crops(path)
        return cls_data.with_rotations(held_out(words, max(1, calib_size // 2), n // 2), f"{words.name}-select")

    def calib_preprocess(self, img):
        from lite.ocr.cls import preprocess

        return preprocess(img)

    def score_nb(self, nb, reader, recipe, target, desc):
        from lite.evaluate import eval_nb

        return eval_nb(nb, reader, target=target, desc=desc)["value"]

    def score_inference(self, model_dir, reader, recipe):
        from lite.evaluate import eval_inference

        return eval_inference(model_dir, reader)["value"]

    def bench_shapes(self, recipe):
        return {"x": (1, 3, 48, 192)}

    def fixed_height(self):
        from lite.ocr.cls import CLS_IMAGE_SHAPE

        return CLS_IMAGE_SHAPE[1]

    def qat_setup(self, source):
        from slim.families.model_source import load_network

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
    official_stage = "det"
    CALIB_SIDE = 320

    def models(self, recipe, model, work):
        from slim.families.model_source import export_inference

        if recipe.prune:
            from slim.jobs.prune_det import pruned_network
            from slim.recipe import load_prune_recipe

            prune_recipe = load_prune_recipe(_beside(recipe.prune, getattr(recipe, "source", None)))
            # the photos this job was given (--images) are the pruned model's too
            name, teacher, student, info = pruned_network(prune_recipe, model or prune_recipe.model,
                                                          recipe.data.images or None)
            from slim.methods.pruning import flops, params

            shape = [1, 3, prune_recipe.prune.input_size, prune_recipe.prune.input_size]
            info.update(params={"float": params(teacher), "pruned": params(student)},
                        flops={"float": flops(teacher, shape), "pruned": flops(student, shape)}, flops_input=shape)
            base = export_inference(teacher, work / "float", [None, 3, None, None])
            src = export_inference(student, work / "pruned", [None, 3, None, None])
            return Models(name, base, src, pruning=info)
        name, d = _det_dir(model or recipe.model, work)
        return Models(name, d, d)

    calib_key, calib_flag, calib_what = "images", "--images", "photos"

    def gate_set(self, path):
        from slim.data import det_data

        return det_data.labelled(path)

    def synthetic_eval(self, recipe, n, split="eval"):
        from slim.data import det_data

        return det_data.synthetic(n, split, (self.CALIB_SIDE,) * 2)

    def real_calibration(self, path, n):
        from slim.data import det_data

        return det_data.calibration_crops(path, n, self.CALIB_SIDE, recipe_limit=960)

    def synthetic_calibration(self, n, split="calib"):
        from slim.data import det_data

        return det_data.synthetic(n, "pool", (self.CALIB_SIDE,) * 2)

    def real_selection(self, path, calib_size, n):
        from lite.readers import held_out

        from slim.data import sources

        photos = sources.photos(path)
        if any(gt is None for _, gt in photos):
            return None
        return held_out(photos, calib_size, n, f"{photos.name}-select")

    def calib_preprocess(self, img):
        from lite.ocr.det import preprocess

        return preprocess(img, self.CALIB_SIDE)[0][0]

    def sensitivity_set(self, recipe, n):
        """Labelled photos for the per-layer scan when the calibration photos
        carry labels; unlabelled ones rank layers by output change instead
        (mixed.rank_by: output), so the synthetic split stands in here."""
        from lite.readers import evenly

        from slim.data import sources

        src = self.calibration_source(recipe)
        photos = sources.photos(src) if src else None
        if photos is not None and all(gt is not None for _, gt in photos):
            return evenly(photos, n)
        return self.synthetic_eval(recipe, n, "sens")

    def score_nb(self, nb, reader, recipe, target, desc):
        from lite.evaluate import eval_det_nb

        return eval_det_nb(nb, reader, target=target, limit_side_len=recipe.gate.limit_side_len, desc=desc)["hmean"]

    def score_inference(self, model_dir, reader, recipe):
        from lite.evaluate import eval_det_inference

        return eval_det_inference(model_dir, reader, recipe.gate.limit_side_len)["hmean"]

    def bench_shapes(self, recipe):
        return {"x": tuple(recipe.gate.bench_shape or (1, 3, 640, 640))}

    def qat_setup(self, source):
        from slim.methods.det_distill import _loss
        from slim.families.model_source import load_det

        def bce_dice(out, t, F):  # the probability map against the float model's
            return _loss(out[:, :1], t[:, :1], F)

        return load_det(str(source))[1], load_det(str(source))[1], bce_dice, [None, 3, None, None]


def _beside(name: str, recipe_file: Path | None) -> Path:
    """A recipe named inside another: a path, else a file beside it or in recipes/."""
    from slim.recipe import RECIPES_DIR

    p = Path(name)
    for cand in (p, (recipe_file.parent / name) if recipe_file else None, RECIPES_DIR / name):
        if cand is not None and cand.is_file():
            return cand
    return p  # load_prune_recipe names it in its error


def _det_dir(model: str, work: Path) -> tuple[str, Path]:
    """An inference dir for a det model: used as is when it is one, else the
    DB network rebuilt from the weights (zoo name, ONNX, .pdparams) and exported."""
    from slim.families.model_source import export_inference, load_det
    from slim.families.zoo import get, resolve

    p = Path(model)
    if p.is_dir() and (any(p.glob("*.pdmodel")) or (p / "__model__").is_file()):
        return p.name, p
    if not p.exists() and get(model).task == "det":  # a zoo name: its inference model as published
        return resolve(model)
    name, net = load_det(model)
    return name, export_inference(net, work / "float", [None, 3, None, None])


@dataclass
class RecSpec:
    """What reading a recognizer's output needs: its dictionary and input height."""
    charset: object
    height: int
    min_width: int = 320


@register
class RecQuant(QuantTask):
    """Text recognizers: the v2.0 CRNNs (from any weights form) and newer ones
    such as PP-OCRv4 rec (from their inference model; PTQ is static, so no
    dygraph network is needed; QAT, which needs one, is then skipped). Word
    accuracy on synthetic words over the model's own alphabet plus the real
    crops in its language; crops are padded as predict_rec pads them."""
    task, metric, unit = "rec", "accuracy", "words"

    def __init__(self):
        self.spec: RecSpec | None = None

    def models(self, recipe, model, work):
        name, d = _rec_dir(model or recipe.model, work)
        return Models(name, d, d)

    def bind(self, recipe, models):
        from lite.ocr.rec import charset_for

        if recipe.gate.metric:
            self.metric = recipe.gate.metric
        from lite.parity import paddle_inference

        from slim.nets.weights import inference_input_shape
        from slim.families.zoo import MODELS

        shape = inference_input_shape(models.baseline)
        height = shape[2] if len(shape) == 4 and shape[2] > 0 else 32
        out = next(iter(paddle_inference(str(models.baseline), [[np.zeros((1, 3, height, 320), np.float32)]],
                                         ir_optim=True)[0].values()))
        dict_file = recipe.dictionary or getattr(MODELS.get(models.name), "dictionary", None)
        if not dict_file:
            raise LiteError(f"{models.name}: which dictionary does it use? Set `dictionary:` in the recipe "
                            "(a PaddleOCR dictionary file)")
        self.spec = RecSpec(charset_for(dict_file, int(out.shape[-1]), models.name), height)

    def gate_set(self, path):
        from slim.data import sources

        return sources.crops(path)

    def synthetic_eval(self, recipe, n, split="eval"):
        from slim.data import rec_data

        return rec_data.synthetic(n, split, self.spec.charset, self.spec.height)

    def real_calibration(self, path, n):
        from lite.readers import evenly

        from slim.data import sources

        return evenly(sources.crops(path), n)

    def real_selection(self, path, calib_size, n):
        from lite.readers import held_out

        from slim.data import sources

        words = sources.crops(path)
        if any(not t for _, t in words):
            return None  # crops without text cannot be scored
        return held_out(words, calib_size, n, f"{words.name}-select")

    def synthetic_calibration(self, n, split="calib"):
        from slim.data import rec_data

        s = self.spec
        return rec_data.synthetic(n, split, s.charset, s.height, s.min_width)

    def calib_preprocess(self, img):
        from lite.ocr.rec import preprocess

        s = self.spec  # one width for every crop (wider words are squeezed), so batches share a shape
        return preprocess(img, s.height, s.min_width)

    def score_nb(self, nb, reader, recipe, target, desc):
        from lite.evaluate import eval_rec_nb

        s = self.spec
        return eval_rec_nb(nb, reader, s.charset, s.height, s.min_width, target=target,
                           cpu=recipe.gate.cpu if target.endswith("-emu") else "generic",
                           case_insensitive=recipe.gate.case_insensitive, desc=desc,
                           metric=recipe.gate.metric or "accuracy")["value"]

    def score_inference(self, model_dir, reader, recipe):
        from lite.evaluate import eval_rec_inference

        s = self.spec
        return eval_rec_inference(model_dir, reader, s.charset, s.height, s.min_width,
                                  case_insensitive=recipe.gate.case_insensitive,
                                  metric=recipe.gate.metric or "accuracy")["value"]

    def bench_shapes(self, recipe):
        return {"x": tuple(recipe.gate.bench_shape or (1, 3, self.spec.height, self.spec.min_width))}

    def fixed_height(self):
        return self.spec.height

    def report_extra(self, recipe):
        s = self.spec
        return {"rec": {"dictionary": s.charset.source, "classes": len(s.charset), "use_space": s.charset.use_space,
                        "height": s.height, "min_width": s.min_width, "rnn_weights": recipe.quant.rnn_weights,
                        "case_insensitive_gate": recipe.gate.case_insensitive}}

    def qat_labelled(self, recipe, n):
        from lite.readers import ListReader, evenly, held_out_indices

        from slim.data import sources
        from slim.methods.qat import Labelled

        src = self.calibration_source(recipe)
        if not src:
            return None
        items = list(sources.crops(src).items)
        held = set(held_out_indices(len(items), recipe.quant.calib_size, recipe.gate.select_size)
                   if recipe.gate.select_size else ())  # the crops that rank the candidates
        cs, x, labels = self.spec.charset, [], []
        steps = self.spec.min_width // 4  # the CRNN's CTC timesteps at the padded width
        for img, text in evenly(ListReader("qat", [it for i, it in enumerate(items) if i not in held]), n):
            kept, _ = cs.encode(text or "")
            if kept and 2 * len(kept) <= steps:  # CTC needs room for repeats between blanks
                x.append(self.calib_preprocess(img))
                labels.append([cs.index[c] for c in kept])
        return (np.stack(x), Labelled(labels, _ctc, recipe.qat.label_weight)) if labels else None

    def after_ptq(self, qdir, recipe):
        if recipe.quant.rnn_weights != "int8":
            return qdir
        from slim.graph.rnn_weights import int8_rnn_weights

        return int8_rnn_weights(qdir, qdir.parent / (qdir.name + "_rnn8"))

    def qat_setup(self, source):
        from slim.families.model_source import load_rec

        def kl(out, t, F):  # per timestep: the training student gives logits, the eval teacher probabilities
            import paddle

            return (t * (paddle.log(t + 1e-8) - F.log_softmax(out, axis=2))).sum(axis=2).mean()

        student, teacher = load_rec(str(source))[1], load_rec(str(source))[1]
        return student, teacher, kl, [None, 3, self.spec.height, None]  # the .nb keeps variable width


def _ctc(out, labels: list, F):
    """PaddleOCR's CTC loss (blank 0) on the student's logits [B, T, C]."""
    import paddle

    width = max(len(lab) for lab in labels)
    padded = paddle.to_tensor(np.array([lab + [0] * (width - len(lab)) for lab in labels], np.int32))
    steps = paddle.to_tensor(np.full(len(labels), out.shape[1], np.int64))
    lengths = paddle.to_tensor(np.array([len(lab) for lab in labels], np.int64))
    return F.ctc_loss(F.log_softmax(out, axis=2).transpose([1, 0, 2]), padded, steps, lengths, blank=0,
                      reduction="mean")


def _rec_dir(model: str, work: Path) -> tuple[str, Path]:
    """An inference dir for a rec model: used as is when it is one (any
    architecture), else the CRNN rebuilt from the weights and exported."""
    from slim.families.model_source import _local, export_inference, load_rec

    name, p = _local(model, "rec")
    if p.is_dir() and (any(p.glob("*.pdmodel")) or (p / "__model__").is_file()):
        return name, p
    _, net = load_rec(str(p))
    return name, export_inference(net, work / "float", [None, 3, 32, None])
