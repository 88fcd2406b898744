"""The text direction classifier (ch_ppocr_mobile_v2.0_cls): crops at 0 and 180 degrees."""
from __future__ import annotations


from slim.families.base import Family, Models, register

@register
class Cls(Family):
    task, cli_name, metric, unit = "cls", "cls", "accuracy", "crops"
    official_stage = "cls"
    quant_recipe = "cls_quant.yaml"
    bench_repeats = 3  # a small model: three runs even out the count's start-up share

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

    def evaluate_nb(self, nb, reader, recipe, target, desc):
        from lite.evaluate import eval_nb

        return eval_nb(nb, reader, target=target, cpu=self.gate_cpu(recipe, target), desc=desc)

    def evaluate_inference(self, model_dir, reader, recipe):
        from lite.evaluate import eval_inference

        return eval_inference(model_dir, reader)

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
