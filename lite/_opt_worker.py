"""Runs Paddle Lite's opt in its own process (paddle and paddlelite must not
share one). argv: a JSON job. Prints one JSON line: {"ok": ..., ...}."""
import json
import sys


def main() -> int:
    job = json.loads(sys.argv[1])
    from paddlelite.lite import Opt

    opt = Opt()
    if job.get("params_file"):
        opt.set_model_file(job["model_file"])
        opt.set_param_file(job["params_file"])
    else:
        opt.set_model_dir(job["model_dir"])
    opt.set_valid_places(job["valid_targets"])
    opt.set_model_type("naive_buffer")
    if job.get("quant_type"):
        opt.set_quant_model(True)
        opt.set_quant_type(job["quant_type"])
    opt.set_optimize_out(job["out_stem"])
    opt.run()
    print(json.dumps({"ok": True, "version": opt.version()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
