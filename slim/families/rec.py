"""Text recognizers (v2.0 CRNNs from any weights form, PP-OCRv4 rec from its inference model): word accuracy."""
from __future__ import annotations

from dataclasses import dataclass

from pathlib import Path

import numpy as np

from lite.errors import LiteError

from slim.families.base import Family, Models, register

@dataclass
class RecSpec:
    """What reading a recognizer's output needs: its dictionary and input height."""
    charset: object
    height: int
    min_width: int = 320


@register
class Rec(Family):
    """Text recognizers: the v2.0 CRNNs (from any weights form) and newer ones
    such as PP-OCRv4 rec (from their inference model; PTQ is static, so no
    dygraph network is needed; QAT, which needs one, is then skipped). Word
    accuracy on synthetic words over the model's own alphabet plus the real
    crops in its language; crops are padded as predict_rec pads them."""
    task, cli_name, metric, unit = "rec", "rec", "accuracy", "words"
    metrics = ("accuracy", "accuracy_alnum", "norm_edit_dis")  # accuracy_alnum: the benchmarks' protocol
    quant_recipe = "rec_quant.yaml"
    model_recipes = {"en_number_mobile_v2.0_rec": "rec_en_number_quant.yaml",
                     "japan_mobile_v2.0_rec": "rec_japan_quant.yaml", "ch_PP-OCRv4_rec": "rec_ppocrv4_quant.yaml"}

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

    def evaluate_nb(self, nb, reader, recipe, target, desc):
        from lite.evaluate import eval_rec_nb

        s = self.spec
        return eval_rec_nb(nb, reader, s.charset, s.height, s.min_width, target=target,
                           cpu=self.gate_cpu(recipe, target),
                           case_insensitive=recipe.gate.case_insensitive, desc=desc,
                           metric=recipe.gate.metric or "accuracy")

    def evaluate_inference(self, model_dir, reader, recipe):
        from lite.evaluate import eval_rec_inference

        s = self.spec
        return eval_rec_inference(model_dir, reader, s.charset, s.height, s.min_width,
                                  case_insensitive=recipe.gate.case_insensitive,
                                  metric=recipe.gate.metric or "accuracy")

    def bench_shapes(self, recipe):
        return {"x": tuple(recipe.gate.bench_shape or (1, 3, self.spec.height, self.spec.min_width))}

    def fixed_height(self):
        return self.spec.height

    def bundle_facts(self, report):
        r = report.extra.get("rec")
        if r is None:
            return None, None, None
        return {"height": r["height"], "min_width": r["min_width"]}, r.get("classes"), r.get("dictionary")

    def eval_key(self, recipe):
        s = self.spec
        return super().eval_key(recipe) + ["".join(s.charset.classes), s.charset.use_space, s.height, s.min_width]

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
        words = sources.crops(src)
        items, groups = words.items, words.groups
        held = set(held_out_indices(len(items), recipe.quant.calib_size, recipe.gate.select_size, groups)
                   if recipe.gate.select_size else ())  # the crops that rank the candidates
        if groups is not None:  # none of their photos' words either
            photos = {groups[i] for i in held}
            held = {i for i in range(len(items)) if groups[i] in photos}
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
