"""The DB text detector (ch_ppocr_mobile_v2.0_det and its pruned forms): hmean on photos."""
from __future__ import annotations

from pathlib import Path

from lite.errors import LiteError
from lite.ocr.det_metric import hmean_of_counts

from slim.families.base import Family, Models, register



@register
class Det(Family):
    """The DB detector: calibration crops cut from the photos at 320x320; the
    gate is hmean on labelled photos at the recipe's long side."""
    task, cli_name, metric, unit = "det", "det_mobile", "hmean", "images"
    official_stage = "det"
    quant_recipe = "det_mobile_quant.yaml"
    prunable = True
    report_latency = True
    CALIB_SIDE = 320

    def models(self, recipe, model, work):
        name, d = _det_dir(model or recipe.model, work)
        return Models(name, d, d)

    calib_key, calib_flag, calib_what = "images", "--images", "photos"

    def bundle_facts(self, report):
        if not report.eval_set.limit_side_len:
            raise LiteError(f"{report.model}: its report names no eval_set.limit_side_len; rerun its job")
        return {"limit_side_len": report.eval_set.limit_side_len}, None, None

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

    item_metric = staticmethod(hmean_of_counts)  # per image [matched, gt, det]

    def evaluate_nb(self, nb, reader, recipe, target, desc):
        from lite.evaluate import eval_det_nb

        r = eval_det_nb(nb, reader, target=target, cpu=self.gate_cpu(recipe, target),
                        limit_side_len=recipe.gate.limit_side_len, desc=desc)
        return {**r, "per_item": r["per_image"]}

    def evaluate_inference(self, model_dir, reader, recipe):
        from lite.evaluate import eval_det_inference

        r = eval_det_inference(model_dir, reader, recipe.gate.limit_side_len)
        return {**r, "per_item": r["per_image"]}

    def bench_shapes(self, recipe):
        return {"x": tuple(recipe.gate.bench_shape or (1, 3, 640, 640))}

    def qat_setup(self, source):
        from slim.methods.det_distill import bce_dice_loss
        from slim.families.model_source import load_det

        def bce_dice(out, t, F):  # the probability map against the float model's
            return bce_dice_loss(out[:, :1], t[:, :1], F)

        return load_det(str(source))[1], load_det(str(source))[1], bce_dice, [None, 3, None, None]


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
