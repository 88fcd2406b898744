"""`slim bundle`: the slim OCR system (and its float reference) as bundles a
phone app loads, gathered from the outputs of `slim prune` / `slim quant`
jobs or from `.nb` files given directly."""
from __future__ import annotations

from pathlib import Path

from lite.bundle import ModelSpec, write_bundle
from lite.errors import LiteError
from lite.nbfile import read_nb
from lite.ocr.rec import dict_file

from slim.families import get_family
from slim.report.schema import load

# The v2.0 mobile system as this toolchain's default jobs write it. en_number
# is the v2.0 mobile recognizer with weights here (the v2.0 ch one has none),
# and it reads the English test images; the det job is prune + int8
# (`slim prune det_mobile`'s output also fits). `--det/--cls/--rec` take any other job.
DEFAULT_JOBS = {"det": "output/slim_quant_ch_ppocr_mobile_v2.0_det",
                "cls": "output/slim_quant_ch_ppocr_mobile_v2.0_cls",
                "rec": "output/slim_quant_en_number_mobile_v2.0_rec"}
BUILD = {"det": "slim quant det_mobile --recipe recipes/det_mobile_prune_quant.yaml", "cls": "slim quant cls",
         "rec": "slim quant rec --model en_number_mobile_v2.0_rec"}


def _one(job: Path, patterns: tuple[str, ...]) -> Path | None:
    for pat in patterns:
        found = sorted(job.glob(pat))
        if found:
            return found[0]
    return None


def model_spec(stage: str, source: str | None, variant: str = "slim") -> tuple[ModelSpec, str | None]:
    """(what the bundle takes for `stage`, the rec dictionary the job used)
    from a job output dir or a `.nb` file; `variant` float picks the job's
    float `.nb` (the reference system)."""
    p = Path(source or DEFAULT_JOBS[stage])
    if p.is_file() and p.suffix == ".nb":
        info = read_nb(p)
        return ModelSpec(nb=p, name=p.stem, precision="int8" if info.is_quantized else "float", source=str(p)), None
    if not (p / "report.json").is_file():
        how = f"run `{BUILD[stage]}` first" if source is None else f"give a .nb file or the output dir of `{BUILD[stage]}`"
        raise LiteError(f"{p}: no {stage} job output here (report.json); {how}")
    report = load(p / "report.json", rerun=f"rerun `{BUILD[stage]}`")
    name = report.model
    if variant == "float":
        nb = _one(p, ("*_float_arm.nb",))
        precision, inf = "float", p / "inference_float"
    else:
        nb = _one(p, ("*_int8_arm.nb", "*_pruned_arm.nb"))
        pruned = "pruning" in report.extra or nb is not None and nb.name.endswith("_pruned_arm.nb")
        int8 = nb is not None and nb.name.endswith("_int8_arm.nb")
        precision = "+".join(t for t, on in (("pruned", pruned), ("int8", int8)) if on) or "float"
        inf = _one(p, ("inference_int8", "inference_pruned"))
        name += "_slim"
    if nb is None:
        raise LiteError(f"{p}: no {variant} ARM .nb in this job output; rerun `{BUILD[stage]}`")
    spec = ModelSpec(nb=nb, name=name, precision=precision, source=str(p),
                     inference=inf if inf is not None and inf.is_dir() else None)
    spec.preprocess, spec.classes, dictionary = get_family(report.task).bundle_facts(report)
    return spec, dictionary


def build(det: str | None = None, cls: str | None = None, rec: str | None = None, rec_dict: str | None = None,
          out: str = "output/bundle", float_out: str | None = None, use_cls: bool = True) -> dict[str, Path]:
    """The slim bundle at `out` and, unless `float_out` is "", the float
    reference bundle from the same jobs at `float_out` (default OUT_float)."""
    written = {}
    variants = {"slim": out}
    if float_out != "":
        variants["float"] = float_out or f"{out.rstrip('/')}_float"
    for variant, dest in variants.items():
        models, dictionary = {}, rec_dict
        for stage, src in (("det", det), ("cls", cls), ("rec", rec)):
            if stage == "cls" and not use_cls:
                continue
            if variant == "float" and src and src.endswith(".nb"):
                raise LiteError(f"{src}: a float reference needs job output dirs, not .nb files; "
                                "pass --no-float, or give the job dirs")
            spec, job_dict = model_spec(stage, src, variant)
            models[stage] = spec
            dictionary = dictionary or job_dict
        if dictionary is None:
            raise LiteError(f"{models['rec'].nb}: which dictionary does this rec model use? pass --rec-dict FILE "
                            "(a PaddleOCR dict, one character per line)")
        dict_path = dict_file(dictionary)
        note = ("v2.0 mobile system: " + ", ".join(f"{s} {m.name} ({m.precision})" for s, m in models.items()))
        written[variant] = write_bundle(dest, models, dict_path, note)
    return written
