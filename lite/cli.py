"""`lite`: convert, inspect, run, evaluate and time Paddle Lite `.nb` models."""
from __future__ import annotations

import json
import sys

import numpy as np

from .cli_args import build_parser
from .errors import LiteError

def _shapes(args, info) -> dict | None:
    if not getattr(args, "shape", None):
        return None
    from .inputs import parse_shape

    return {info.inputs[0]: parse_shape(args.shape)}


def cmd_opt(args):
    from .opt import opt

    out = opt(args.model, target=args.target, quant_weights=args.quant_weights, out=args.out,
              opt_version=args.opt_version, keep_attrs=args.keep_attrs)
    from .nbfile import read_nb

    info = read_nb(out)
    print(f"wrote {out} ({info.bytes:,} bytes, opt {info.opt_version}, {len(info.ops)} ops, target {args.target})")


def cmd_info(args):
    from .nbfile import read_nb
    from .runtimes import list_runtimes

    info = read_nb(args.nb)
    d = info.to_json()
    arches = {"arm": ["armv8", "armv7hf"], "x86": []}
    loadable = []
    for t in info.targets:
        if t == "x86":
            loadable.append("x86 (paddlelite 2.13rc0 pip runtime" + (", wrong results for int8)" if info.is_quantized else ")"))
        for arch in arches.get(t, []):
            have = [r for r in list_runtimes() if r.arch == arch and r.version == info.opt_version]
            loadable.append(f"{arch} on Paddle Lite {info.opt_version}" + ("" if have else " (runtime not installed)"))
    d["loads_on"] = loadable
    if args.json:
        print(json.dumps(d, indent=2))
        return
    print(f"{info.path}: {info.bytes:,} bytes, opt {info.opt_version}, targets {', '.join(info.targets) or '-'}"
          f"{', int8' if info.is_quantized else ''}")
    print("inputs: " + ", ".join(f"{n} [{','.join(map(str, info.input_shapes.get(n, [])))}]" for n in info.inputs))
    print(f"outputs: {', '.join(info.outputs)}; params: {info.params}")
    print("loads on: " + "; ".join(loadable))
    print("ops (type:target/precision count):")
    for k, v in info.op_summary().items():
        print(f"  {k:45s} {v}")


def cmd_run(args):
    from .atomic import atomic_path
    from .inputs import default_inputs, load_npy
    from .nbfile import read_nb
    from .targets import emulation_options, get_target

    info = read_nb(args.nb)
    feed = {info.inputs[0]: load_npy(args.input)} if args.input else default_inputs(info, _shapes(args, info))[0]
    opts = {"threads": args.threads, "power_mode": args.power_mode}
    opts.update(emulation_options(args.target, cpu=args.cpu))
    t = get_target(args.target, **opts)
    with t.load(args.nb) as s:
        outs = s.run(feed)
    for name, arr in outs.items():
        flat = arr.ravel()
        print(f"{name}: shape {list(arr.shape)} {arr.dtype}, first {np.array2string(flat[:6], precision=6)}")
    if args.output:
        first = next(iter(outs.values()))
        with atomic_path(args.output, suffix=".npy") as tmp:
            np.save(tmp, first)
        print(f"wrote {args.output}")


def cmd_bench(args):
    from .bench import bench, compare
    from .nbfile import read_nb

    if len(args.nb) > 2:
        raise LiteError("give one .nb to time, or two to compare")
    if len(args.nb) == 2 and not args.compare:
        args.compare = args.nb
    args.nb = args.nb[0] if len(args.nb) == 1 else None
    if args.compare:
        a, b = args.compare
        res = compare(a, b, target=args.target, threads=args.threads, warmup=args.warmup, repeats=args.repeats,
                      shapes=_shapes(args, read_nb(a)), cpu=args.cpu, power_mode=args.power_mode)
        if args.json:
            print(json.dumps(res, indent=2))
        else:
            unit = "instructions per run" if res["metric"] == "instructions_per_run" else "median latency"
            va = res["a"][res["metric"]] if res["metric"] == "instructions_per_run" else res["a"]["latency_ms"]["median"]
            vb = res["b"][res["metric"]] if res["metric"] == "instructions_per_run" else res["b"]["latency_ms"]["median"]
            print(f"{a}: {va:,.3f}\n{b}: {vb:,.3f}\nratio B/A ({unit}, one run on {res['target']}): {res['ratio']:.4f}")
        return
    if not args.nb:
        raise LiteError("give a .nb to time, or --compare A.nb B.nb")
    info = read_nb(args.nb)
    res = bench(args.nb, target=args.target, threads=args.threads, warmup=args.warmup, repeats=args.repeats,
                shapes=_shapes(args, info), cpu=args.cpu, power_mode=args.power_mode)
    if args.json:
        print(json.dumps(res, indent=2))
    elif "latency_ms" in res:
        l = res["latency_ms"]
        dev = res.get("device")
        where = f" ({dev['cpu_model']}, {dev['cores']} cores, governor {dev['governor']}, {res['power_mode']})" \
            if dev else ""
        print(f"{args.nb} on {res['target']}{where}, {res['threads']} thread(s): median {l['median']:.3f} ms, "
              f"p90 {l['p90']:.3f}, min {l['min']:.3f}, max {l['max']:.3f} ms over {res['repeats']} runs")
    else:
        ipr = res.get("instructions_per_run")
        what = f"{ipr:,} ARM instructions per run (spread {res['instructions_spread']:.2e})" if ipr else "no instruction count"
        print(f"{args.nb} on {res['target']} (cpu {res['cpu']}, Paddle Lite kernels for {res.get('kernel_arch')}, "
              f"runtime {res.get('runtime')}): {what}")


def _eval_cls(args) -> tuple[dict, str]:
    from .evaluate import eval_nb
    from .ocr.cls_labels import user_data

    r = eval_nb(args.nb, user_data(args.data), target=args.target, cpu=args.cpu, desc=f"cls on {args.target}")
    return r, f"accuracy {r['value']:.4f} on {r['size']} crops"


def _eval_det(args) -> tuple[dict, str]:
    from .evaluate import eval_det_nb
    from .ocr.det_labels import open_det_data

    r = eval_det_nb(args.nb, open_det_data(args.data), target=args.target, cpu=args.cpu,
                    limit_side_len=args.limit_side_len, desc=f"det on {args.target}")
    return r, (f"hmean {r['hmean']:.4f} (precision {r['precision']:.4f}, recall {r['recall']:.4f}) on "
               f"{r['size']} images")


def _eval_rec(args) -> tuple[dict, str]:
    from .evaluate import eval_rec_nb, rec_setup
    from .readers import read_rec_data

    charset, height, min_width = rec_setup(args.nb, args.dict, args.height, args.min_width, args.target, args.cpu)
    r = eval_rec_nb(args.nb, read_rec_data(args.data), charset, height, min_width, target=args.target,
                    cpu=args.cpu, desc=f"rec on {args.target}", batch_size=args.batch_size)
    r.update(dictionary=charset.source, height=height, min_width=min_width)
    return r, (f"word accuracy {r['accuracy']:.4f} exact, {r['accuracy_alnum']:.4f} case-insensitive "
               f"alphanumeric; normalised edit distance {r['norm_edit_dis']:.4f} on {r['size']} crops "
               f"(height {height}, padded to >= {min_width})")


EVAL_TASKS = {"cls": _eval_cls, "det": _eval_det, "rec": _eval_rec}


def cmd_eval(args):
    r, line = EVAL_TASKS[args.task](args)
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k not in ("per_image", "per_item")}, indent=2, default=str))
    else:
        print(f"{args.nb} on {args.target}: {line}")


def cmd_ocr(args):
    from .bundle import open_bundle
    from .ocr.app import ocr, read_images

    bundle = open_bundle(args.bundle)
    images = read_images(args.image)
    records = ocr(images, bundle, target=args.target, cpu=args.cpu, out=args.out, workers=args.workers,
                  count=args.count, draw=not args.no_draw)
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return
    for rec in records:
        print(f"{rec['image']}: {len(rec['lines'])} lines ({len(rec['det_boxes'])} boxes detected)")
        for ln in rec["lines"]:
            box = " ".join(f"{x:.0f},{y:.0f}" for x, y in ln["box"])
            print(f"  {ln['score']:.3f}  [{box}]  {ln['text']}")
        if args.count:
            print("  ARM instructions: " + ", ".join(f"{k} {v:,}" for k, v in rec["instructions"].items()))
    if args.out:
        print(f"results: {args.out}/results.json" + ("" if args.no_draw else f", annotated images in {args.out}/"))


def cmd_devices(args):
    from .devices import list_devices

    rows = list_devices(probe=not args.no_probe)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print("no boards: name them in boards.yaml (see README, \"Measuring on your board\"), add Host entries "
              "to ~/.ssh/config, or attach a phone (adb devices)")
    for r in rows:
        print(f"{r['name']:20s} {r['target']:36s} {r.get('arch') or '-':14s} {r.get('status', '')}")


def cmd_parity(args):
    from .inputs import load_npy
    from .nbfile import read_nb
    from .parity import parity

    info = read_nb(args.nb)
    inputs = {info.inputs[0]: load_npy(args.input)} if args.input else None
    res = parity(args.nb, args.model, target=args.target, shapes=_shapes(args, info), inputs=inputs,
                 samples=args.samples, cpu=args.cpu)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"{args.nb} on {res['target']['target']} vs Paddle Inference ({res['samples']} inputs): "
          f"max abs diff {res['ir_optim_on']['max_abs_diff']:.3g} (IR optim on), "
          f"{res['ir_optim_off']['max_abs_diff']:.3g} (IR optim off)")
    if args.tolerance is not None and res["max_abs_diff"] > args.tolerance:
        raise LiteError(f"{args.nb}: max abs diff {res['max_abs_diff']:.3g} exceeds --tolerance {args.tolerance}")


def cmd_runtime(args):
    from . import runtimes

    if args.action == "list":
        rts = runtimes.list_runtimes()
        if not rts:
            print("no ARM runtimes installed; `lite runtime fetch v2.13-rc` (the pip opt's), `lite runtime fetch "
                  "v2.10-rc` (the official v2.0-era slim .nb files) or `lite runtime add DIR`")
        for r in rts:
            print(f"{r.version:10s} {r.arch:8s} {r.dir}{'' if r.runner.is_file() else '  (runner not built yet)'}")
    elif args.action == "add":
        for r in runtimes.add(args.path, args.version):
            runtimes.build_runner(r)
            print(f"added Paddle Lite {r.version} {r.arch} -> {r.dir} (runner built)")
    elif args.action == "fetch":
        for arch in args.arch:
            r = runtimes.fetch(args.path, arch, base_url=args.base_url)
            try:
                runtimes.build_runner(r)
                built = "runner built"
            except LiteError as e:
                if not arch.startswith("android-"):
                    raise
                built = f"runner not built yet: {e}"  # the NDK is needed only once a phone is used
            print(f"fetched Paddle Lite {r.version} {r.arch} -> {r.dir} (sha256 checked, {built})")
    elif args.action == "build":
        for r in runtimes.list_runtimes():
            try:
                runtimes.build_runner(r, force=True)
            except LiteError as e:
                if not r.arch.startswith("android-"):
                    raise
                print(f"skipped the {r.version} {r.arch} runner: {e}")
                continue
            print(f"built runner for {r.version} {r.arch}")
        print(f"built qemu plugin {runtimes.plugin_path()}")


def cmd_demo(args):
    from .demo import demo

    r = demo(args.model, args.out)
    print(f"ch_ppocr_mobile_v2.0_cls -> {r['nb']['arm']['path']} ({r['nb']['arm']['bytes']:,} bytes), "
          f"{r['nb']['x86']['path']} ({r['nb']['x86']['bytes']:,} bytes)")
    print(f"parity vs Paddle Inference: x86 {r['parity_max_abs_diff']['x86']:.2g}, "
          f"arm64-emu {r['parity_max_abs_diff']['arm64-emu']:.2g} (max abs diff)")
    i = r["instructions_per_run_arm64"]
    print(f"x86 latency: median {r['latency_ms_x86']['median']:.3f} ms; "
          f"ARM ({i['cpu']}, kernels {i['kernel_arch']}): {i['value']:,} instructions per inference")
    print(f"report: {args.out}/report.json")


COMMANDS = {"opt": cmd_opt, "info": cmd_info, "run": cmd_run, "bench": cmd_bench, "eval": cmd_eval, "ocr": cmd_ocr, "devices": cmd_devices, "parity": cmd_parity, "runtime": cmd_runtime, "demo": cmd_demo}


def _target_of(args) -> str:
    """--target omitted: where the .nb runs (an ARM .nb on arm64-emu, an x86 one on x86)."""
    from .nbfile import read_nb
    from .targets import target_for

    nb = args.nb if isinstance(args.nb, str) else (args.nb or args.compare or [None])[0]
    return target_for(read_nb(nb)) if nb else "x86"


def main(argv: list[str] | None = None) -> int:
    args = build_parser(EVAL_TASKS).parse_args(argv)
    if args.cmd == "runtime" and args.action in ("add", "fetch") and not args.path:
        print(f"error: lite runtime {args.action} needs a {'directory' if args.action == 'add' else 'version'}",
              file=sys.stderr)
        return 2
    try:
        if getattr(args, "target", "") is None:
            args.target = _target_of(args)
        COMMANDS[args.cmd](args)
    except LiteError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
