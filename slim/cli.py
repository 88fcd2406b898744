"""`slim`: compress PaddleOCR models; every result is gated on the compiled `.nb`."""
from __future__ import annotations

import argparse
import dataclasses
import sys

from lite.errors import LiteError


def _quant_recipe(cli_name: str, recipe: str | None, model: str | None):
    """The family a job name means and its recipe (the given one, else the
    family's default for the model), checked to be that family's."""
    from slim.families import by_cli_name
    from slim.recipe import load_quant_recipe

    family = by_cli_name(cli_name)
    r = load_quant_recipe(recipe, family.default_recipe(model))
    if r.task != family.task:
        raise LiteError(f"{recipe}: a {r.task} recipe; `slim quant {cli_name}` needs task: {family.task}")
    return r


def cmd_quant(args):
    from slim.jobs.quant import run

    recipe = _quant_recipe(args.task, args.recipe, args.model)
    r = run(recipe, model=args.model, data=args.data, out=args.out, images=args.images, calib=args.calib)
    b, s = r["baseline"], r["slim"]
    m = r["metric"]
    e = r["eval_set"]
    print(f"{r['model']}: int8 ({s['algo']}) .nb {s['nb_bytes_arm']:,} bytes (float {b['nb_bytes_arm']:,}); "
          f"{m} on the ARM .nb {s['metric_value']:.4f} vs {b['metric_value']:.4f} (float) on {e['gate_size']} "
          f"{e['unit']} of {e['gate_set']}; ARM instructions x{r['ratios']['instructions']:.3f} ({r['cpu']}); "
          f"{r['seconds']} s")
    print(f"report: {args.out or 'output/slim_quant_' + r['model']}/report.md")
    if not r["passed"]:
        print(f"error: no int8 .nb kept the {m} drop within {r['budget_drop_points']} points (the closest, "
              f"{s['algo']}, is in the report: {100 * (b['metric_value'] - s['metric_value']):+.2f} on the ARM .nb); "
              + ("the pruned float model alone is past the budget: prune less (prune.flops_keep in the prune "
                 "recipe) or fine-tune it with labels (finetune.label_weight), or raise gate.max_drop_points"
                 if r.get("pruning", {}).get("past_budget") else
                 "raise gate.max_drop_points, or enable/extend the mixed, qat and weight_only fallbacks in the recipe"),
              file=sys.stderr)
        return 1
    return 0


def cmd_prune(args):
    from slim.families import by_cli_name
    from slim.jobs.prune import prune_job

    job = prune_job(by_cli_name(args.task).task)
    r = job.run(job.load_recipe(args.recipe, job.default_recipe), model=args.model, data=args.data, out=args.out,
                images=args.images, calib=args.calib)
    print(job.summary(r))
    print(f"report: {args.out or 'output/slim_prune_' + r['model']}/report.md")
    if not r["passed"]:
        print(f"error: {job.failure(r)}", file=sys.stderr)
        return 1
    return 0


def _bench_run(args, bench) -> dict:
    """The bench's default job on the real sets of ../shared."""
    from slim.data import benchsets
    from slim.jobs.prune import prune_job

    sets = benchsets.for_family(bench.family)
    benchsets.seed_official_nb()
    out = args.out or f"output/bench_{args.task}"
    kw = dict(model=args.model, data=sets.data, images=sets.images, calib=sets.calib, out=out)
    if bench.verb == "prune":
        job = prune_job(bench.family)
        return job.run(job.load_recipe(args.recipe, bench.recipe or job.default_recipe), **kw)
    from slim.families import get_family
    from slim.jobs.quant import run
    from slim.recipe import load_quant_recipe

    recipe = load_quant_recipe(args.recipe, bench.recipe or get_family(bench.family).default_recipe(args.model))
    if sets.metric:  # a Chinese model's recipe scores exact words; the Latin benchmarks fold to alnum
        recipe = dataclasses.replace(recipe, gate=dataclasses.replace(recipe.gate, metric=sets.metric))
    return run(recipe, **kw)


def cmd_bench(args):
    from slim.acceptance import check, render
    from slim.jobs.registry import BENCHES
    from slim.report.schema import load, parse

    bench = BENCHES[args.task]
    rerun = f"rerun `slim bench {args.task}` without --report"
    if args.report:
        report = load(args.report, f"run `slim bench {args.task}` without --report first", rerun)
    else:
        report = parse(_bench_run(args, bench), args.out or f"output/bench_{args.task}", rerun)
    want = f"{bench.family}-{bench.verb}"
    if report.family_kind != want:
        raise LiteError(f"{args.report or args.out}: a {report.family_kind} report, not {want} (`slim bench {args.task}`)")
    try:
        rows = check(report)
    except KeyError as e:
        raise LiteError(f"{args.report or args.out}: the report has no {e.args[0]!r}; it was written by another "
                        f"version, {rerun}") from None
    print(render(rows))
    return 0 if all(r["passed"] for r in rows) else 1


def cmd_bundle(args):
    from lite.bundle import open_bundle

    from slim.jobs.bundle import build

    written = build(args.det, args.cls, args.rec, args.rec_dict, args.out,
                    "" if args.no_float else args.float_out, use_cls=not args.no_cls)
    for variant, path in written.items():
        b = open_bundle(path)
        parts = ", ".join(f"{s} {m['bytes']:,} ({m['precision']})" for s, m in b.manifest["models"].items())
        print(f"{variant} bundle {path}: {b.nb_bytes:,} bytes of .nb: {parts}")
    print(f"read images with it: lite ocr IMAGE --bundle {written['slim']}")


def cmd_e2e(args):
    from slim.jobs.e2e import run

    r = run(args.slim, args.float, data=args.data, synthetic=args.synthetic, out=args.out, cpu=args.cpu,
            subset=args.subset)
    t = r["total"]
    print(f"end-to-end F-score {t['slim']['e2e']['fscore']:.4f} (slim) vs {t['float']['e2e']['fscore']:.4f} "
          f"(float) on {t['images']} images on ARM; .nb bytes x{r['ratios']['nb_bytes']:.3f}; ARM instructions per "
          f"image x{r['ratios']['instructions']:.3f} ({args.cpu}); {r['seconds']} s")
    print(f"report: {args.out}/report.md")


def cmd_zoo(args):
    from slim.families.zoo import MODELS

    for m in MODELS.values():
        shape = "x".join("?" if d < 0 else str(d) for d in m.input_shape)
        print(f"{m.name:28s} {m.task:4s} {shape:9s} {m.arch}")
        if args.verbose:
            print(f"    inference: {m.inference_url}\n    trained:   {m.trained_url}\n    preprocess: {m.preprocess}"
                  + (f"\n    dictionary: ppocr/utils/{m.dictionary}" if m.dictionary else ""))


DATA_HELP = ("labelled gate set(s): det: ICDAR 2015 folder (imgs/, gt/) or PaddleOCR det label file; rec: PaddleOCR "
             "rec label file (path<TAB>text), a folder holding one, or photos with quads to cut words from; cls: a cls "
             "label file (path<TAB>0|180) or any of the rec forms (each crop scored upright and turned); default: the "
             "recipe's data.gate, else synthetic, with a notice")
IMAGES_HELP = ("det: real photos for calibration, the pruning scan and the fine-tune pool: a folder, a PaddleOCR det "
               "label file or an ICDAR 2015 folder (labels are used where the recipe asks: finetune.label_weight); "
               "default: the recipe's data.images, else synthetic scenes, with a notice")
CALIB_HELP = ("rec, cls: real word crops for calibration: a folder, a rec label file, or photos with quads (a det label "
              "file or ICDAR folder) to cut them from; default: the recipe's data.calib, else synthetic, with a notice")


def _job_parser(sub, verb: str, help: str, fn, tasks: list, recipe: str) -> None:
    """`slim quant` and `slim prune` take the same options; the CLI mirrors the job's run()."""
    p = sub.add_parser(verb, help=help)
    p.add_argument("task", choices=tasks)
    p.add_argument("--model", help="zoo name, inference model dir, trained .pdparams checkpoint or ONNX export "
                   "(default: the recipe's)")
    p.add_argument("--recipe", help=f"YAML recipe (default recipes/{recipe})")
    p.add_argument("--data", nargs="+", help=DATA_HELP)
    p.add_argument("--images", help=IMAGES_HELP)
    p.add_argument("--calib", help=CALIB_HELP)
    p.add_argument("--out", help=f"output dir (default output/slim_{verb}_MODEL)")
    p.set_defaults(fn=fn)


def main(argv: list[str] | None = None) -> int:
    import warnings

    # paddleslim imports distutils; the resulting setuptools notice is not the user's concern
    warnings.filterwarnings("ignore", message="Setuptools is replacing distutils")
    ap = argparse.ArgumentParser(prog="slim", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    from slim.families import by_cli_name, cli_names
    from slim.jobs.prune import PRUNE_JOBS
    from slim.jobs.registry import BENCHES

    _job_parser(sub, "quant", "post-training int8 quantization, gated on the ARM .nb", cmd_quant,
                cli_names(), "cls_quant.yaml")
    prunable = [n for n in cli_names() if by_cli_name(n).task in PRUNE_JOBS]
    _job_parser(sub, "prune", "sensitivity-guided filter pruning + distillation, gated on the compiled .nb",
                cmd_prune, prunable, " or ".join(j.default_recipe for j in PRUNE_JOBS.values()))
    p = sub.add_parser("bench", help="run the default job on the real benchmark sets (ICDAR 2015, IIIT5K, SVT in "
                       "../shared) and check its acceptance targets (listed in the README) on its report")
    p.add_argument("task", choices=list(BENCHES))
    p.add_argument("--report", help="check an existing report.json instead of running the job")
    p.add_argument("--recipe", help="the recipe to run (default: the task's default recipe)")
    p.add_argument("--model", help="the model the default job starts from (default: the recipe's)")
    p.add_argument("--out", help="where the default run writes (default output/bench_TASK)")
    p.set_defaults(fn=cmd_bench)
    from slim.jobs.bundle import DEFAULT_JOBS

    p = sub.add_parser("bundle", help="gather det, cls and rec .nb files, dictionary and manifest into a bundle")
    for stage in DEFAULT_JOBS:  # the system's stages, in order
        p.add_argument(f"--{stage}", help=f"a {stage} job's output dir or a {stage} .nb (default {DEFAULT_JOBS[stage]})")
    p.add_argument("--rec-dict", help="the rec dictionary (default: the one the rec job used)")
    p.add_argument("--out", default="output/bundle", help="the slim bundle dir (default output/bundle)")
    p.add_argument("--float-out", help="the float reference bundle from the same jobs (default OUT_float)")
    p.add_argument("--no-float", action="store_true", help="write the slim bundle only")
    p.add_argument("--no-cls", action="store_true", help="a system without the direction classifier")
    p.set_defaults(fn=cmd_bundle)
    p = sub.add_parser("e2e", help="the float system against the slim bundle, end to end on labelled images")
    p.add_argument("--slim", default="output/bundle", help="the slim bundle (default output/bundle)")
    p.add_argument("--float", default="output/bundle_float", help="the float bundle (default output/bundle_float)")
    p.add_argument("--data", nargs="+", help="labelled photos: PaddleOCR det label file(s) or ICDAR 2015 folder(s) "
                   "(default: the ICDAR 2015 test set of ../shared when present, else --synthetic scenes)")
    p.add_argument("--subset", type=int, default=100, help="images per set run on emulated ARM, spread evenly "
                   "(0: all); both systems also run on Paddle Inference on every image")
    p.add_argument("--synthetic", type=int, default=0, help="synthetic scenes when no labelled photos are found")
    p.add_argument("--cpu", default="cortex-a76", help="emulated CPU whose kernels are counted")
    p.add_argument("--out", default="output/e2e")
    p.set_defaults(fn=cmd_e2e)
    p = sub.add_parser("zoo", help="the PaddleOCR models known by name")
    p.add_argument("-v", "--verbose", action="store_true", help="also URLs, preprocessing, dictionary")
    p.set_defaults(fn=cmd_zoo)
    args = ap.parse_args(argv)
    try:
        rc = args.fn(args)
    except LiteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
