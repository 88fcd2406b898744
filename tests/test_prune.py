"""Pruning: the plan (FLOPs target, multiples of 8, least predicted loss),
PaddleSlim's pruners on the DB network, resumable distillation, and a tiny
`slim prune det_mobile` run end to end on the real model and `.nb` files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from lite.errors import LiteError
from lite.paths import REPO_ROOT
from slim.methods.pruning import channel_options, plan_for_flops, predicted_loss

from .conftest import RUNTIMES, SHARED, need

DET_ONNX = SHARED / "models" / "ch_ppocr_mobile_v2.0_det" / "model.onnx"


def test_channel_options_are_multiples_of_8_within_max_ratio():
    assert channel_options(96, 0.8) == [96, 88, 80, 72, 64, 56, 48, 40, 32, 24]
    assert channel_options(8, 0.8) == [8]
    assert channel_options(30, 0.5) == [30, 24, 16]   # an unaligned width first drops to a multiple of 8
    assert all(c % 8 == 0 for c in channel_options(480, 0.8)[1:])


def test_predicted_loss_interpolates_through_zero():
    curve = {"0.20": 0.02, "0.40": 0.10}
    assert predicted_loss(curve, 0.0) == 0.0
    assert predicted_loss(curve, 0.1) == pytest.approx(0.01)
    assert predicted_loss(curve, 0.3) == pytest.approx(0.06)
    assert predicted_loss(curve, 0.8) == pytest.approx(0.10)  # flat beyond the last measured ratio
    assert predicted_loss({"0.50": -0.01}, 0.5) == 0.0       # a gain counts as no loss


def _fake(channels: dict, cost: dict):
    measure = lambda ratios: int(sum(n * (1 - ratios.get(u, 0.0)) * cost[u] for u, n in channels.items()))  # noqa: E731
    return SimpleNamespace(channels=channels, flops_of=measure), measure


def test_plan_reaches_the_flops_target_cutting_the_least_sensitive_first():
    channels = {"a": 64, "b": 64, "c": 32}
    cost = {"a": 10, "b": 10, "c": 10}
    sens = {"a": {"0.50": 0.20}, "b": {"0.50": 0.01}, "c": {"0.50": 0.05}}
    pruner, measure = _fake(channels, cost)
    plan = plan_for_flops(pruner, sens, 0.6, max_ratio=0.8, align=8, measure=measure)
    assert plan.flops <= 0.6 * plan.base_flops
    assert all(k % 8 == 0 for k in plan.keep.values())
    assert plan.keep["b"] < plan.keep["c"] / 32 * 64 or plan.keep["b"] <= 16   # b, the least sensitive, goes first
    assert plan.keep["a"] == 64                                                 # a, the most sensitive, is spared
    js = plan.to_json()
    assert js["flops_ratio"] <= 0.6 and {u["unit"] for u in js["units"]} == {"a", "b", "c"}


def test_instruction_budget_orders_the_cuts_by_instructions_saved():
    """With a cost (ARM instructions) that differs from FLOPs, the greedy cuts
    the unit that saves the most instructions per predicted loss, and stops
    only once both budgets hold."""
    channels = {"a": 64, "b": 64}
    pruner, measure = _fake(channels, {"a": 10, "b": 10})            # equal FLOPs per channel
    instr = lambda r: sum(n * (1 - r.get(u, 0.0)) * {"a": 1, "b": 9}[u] for u, n in channels.items())  # noqa: E731
    sens = {"a": {"0.50": 0.05}, "b": {"0.50": 0.06}}                # b a little more sensitive
    by_flops = plan_for_flops(pruner, sens, 0.8, 0.8, 8, measure=measure)
    assert by_flops.keep["b"] == 64 and by_flops.keep["a"] < 64
    plan = plan_for_flops(pruner, sens, 0.8, 0.8, 8, measure=measure, cost=instr,
                          fits=lambda r: instr(r) <= 0.6 * instr({}))
    assert plan.keep["b"] < 64 and instr(plan.ratios) <= 0.6 * instr({}) and plan.flops <= 0.8 * plan.base_flops
    with pytest.raises(LiteError, match=r"and the instruction budget is out of reach.*prune.instructions_keep"):
        plan_for_flops(pruner, sens, 0.8, 0.8, 8, measure=measure, cost=instr, fits=lambda r: False)


def test_unreachable_flops_target_is_a_clear_error():
    pruner, measure = _fake({"a": 16}, {"a": 1})
    with pytest.raises(LiteError, match=r"FLOPs target 0.10x is out of reach.*keeps 0.50x of the FLOPs; raise prune.flops_keep"):
        plan_for_flops(pruner, {}, 0.1, max_ratio=0.8, align=8, measure=measure)


@pytest.fixture(scope="module")
def det_net():
    from slim.families.model_source import load_det

    return load_det(str(need(DET_ONNX)))[1]


def test_paddleslim_pruners_cut_tied_channels_and_concat_members(det_net):
    import copy

    import paddle

    from slim.jobs.prune_det import clean_copy
    from slim.methods.pruning import Pruner, flops

    for method in ("fpgm", "l1"):
        net = copy.deepcopy(det_net)
        p = Pruner(net, [1, 3, 128, 128], method)
        assert "neck.in5_conv.weight" in p.units and "neck.p2_conv.weight" in p.units
        assert not any("conv2" in u or "conv3" in u for u in p.units if u.startswith("head."))  # head's last convs stay
        base = flops(net, [1, 3, 128, 128])
        plans = p.apply({"backbone.stage3.1.expand_conv.conv.weight": 0.5, "neck.p2_conv.weight": 0.5,
                         "neck.in5_conv.weight": 0.25})
        small = clean_copy(net)
        w = small.widths
        assert (w["block13.mid"], w["neck.p2"], w["neck.in5"], w["neck.in2"]) == (240, 12, 72, 72)
        assert small.head.binarize.conv1.weight.shape[1] == 24 * 3 + 12  # the concat consumer follows
        x = paddle.to_tensor(np.random.RandomState(0).rand(1, 3, 128, 128).astype("float32"))
        assert small(x).shape == [1, 1, 128, 128]
        assert flops(small, [1, 3, 128, 128]) < base
        p.restore(plans)
        assert np.abs(net(x).numpy() - det_net(x).numpy()).max() == 0.0  # restore gives the original back


def test_scan_in_workers_matches_the_scan_in_process(det_net, tmp_path):
    """The sensitivity scan shared by spawned workers (each pruning and
    restoring its own traced copy) gives what the in-process scan gives, and
    each score is that of a freshly pruned copy of the float network."""
    import copy

    from slim.data.det_data import synthetic
    from slim.data.det_pool import net_hmean
    from slim.jobs.prune_det import _scan_in_workers
    from slim.jobs.prune_scan import DetScan
    from slim.methods.pruning import Pruner, pruned_copy, sensitivity

    items = synthetic(4, "eval").items
    shape = [1, 3, 320, 320]
    work = copy.deepcopy(det_net)
    pruner = Pruner(work, shape, "fpgm")
    pruner.units = ["neck.p2_conv.weight", "backbone.stage2.5.expand_conv.conv.weight"]
    score = lambda: net_hmean(work, items, 320)  # noqa: E731
    in_process = sensitivity(pruner, score, [0.5, 0.75], tmp_path / "a.json")
    scan = _scan_in_workers(DetScan(det_net, shape, "fpgm", items, 320))
    assert sensitivity(pruner, score, [0.5, 0.75], tmp_path / "b.json", scan=scan) == in_process
    # one payload scoring in sequence, as a worker does: no cut leaks into the next
    one = DetScan(det_net, shape, "fpgm", items, 320)
    base = net_hmean(det_net, items, 320)
    for u in pruner.units:
        fresh = net_hmean(pruned_copy(det_net, shape, "fpgm", {u: 0.75}), items, 320)
        assert one.score(u, 0.75) == fresh and base - fresh == in_process[u]["0.75"]
    assert one.score(None, 0.0) == base
    assert any(v > 0 for curve in in_process.values() for v in curve.values())  # the cuts do cost something


def test_instruction_counter_counts_the_compiled_candidate(det_net, tmp_path):
    """The plan's instruction budget counts the real pruned `.nb` on emulated ARM, cached."""
    from slim.jobs.prune_cost import InstructionCounter
    from slim.jobs.prune_det import clean_copy

    need(RUNTIMES)
    count = InstructionCounter(det_net, [1, 3, 64, 64], "fpgm", clean_copy, "arm64-emu", "cortex-a76",
                               tmp_path / "counts.json")
    base, cut = count({}), count({"neck.p2_conv.weight": 0.5, "head.binarize.conv1.weight": 0.5})
    assert 0 < cut < 0.95 * base
    again = InstructionCounter(det_net, [1, 3, 64, 64], "fpgm", clean_copy, "arm64-emu", "cortex-a76",
                               tmp_path / "counts.json")
    assert again.counts and again({}) == base  # read back from the cache, not emulated again


def test_export_after_a_pruner_sees_only_its_own_parameters(tmp_path):
    """PaddleSlim's graph tracing leaves paddle's per-program parameter records
    behind; a later program at the same address inherited them and jit.save
    failed on a `*_deepcopy_N` parameter of a freed network (seen under xdist)."""
    import copy

    from paddle.jit.dy2static.program_translator import ProgramTranslator

    from slim.families.model_source import build_network, export_inference
    from slim.methods.pruning import Pruner

    net, _, shape = build_network("cls")
    Pruner(copy.deepcopy(net), [1, 3, 48, 192], "fpgm")
    records = ProgramTranslator.get_instance()._params_recorder.params_dict
    assert records, "paddleslim no longer leaves records: the guard in export_inference may be dropped"
    d = export_inference(net, tmp_path / "cls", shape)
    assert (d / "inference.pdiparams").stat().st_size > 100_000 and not records


def test_distillation_resumes_to_the_same_weights(tmp_path):
    import paddle

    from slim.methods.det_distill import distill_online
    from slim.nets.det_db import DBNet, default_widths

    w = {k: max(8, v // 4) if isinstance(v, int) else v for k, v in default_widths().items()}
    paddle.seed(2)
    teacher = DBNet(w, with_thresh=False)

    def sample(rng, with_labels):  # the batch is drawn from the step's own random state
        return rng.randint(0, 255, (64, 64, 3)).astype(np.uint8), None

    def fresh():
        paddle.seed(1)
        return DBNet(w, with_thresh=False)

    straight = fresh()
    distill_online(straight, teacher, sample, 4, 2, 1e-3, tmp_path / "a", every=2)
    interrupted = fresh()
    distill_online(interrupted, teacher, sample, 4, 2, 1e-3, tmp_path / "b", every=2, stop_after=3)  # killed at 3
    resumed = fresh()
    r = distill_online(resumed, teacher, sample, 4, 2, 1e-3, tmp_path / "b", every=2)
    assert r["resumed_from"] == 2  # the last checkpoint, not the lost step 3
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert np.allclose(a.numpy(), b.numpy(), atol=1e-6), k
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["state.json", "step_000004.pdopt",
                                                                  "step_000004.pdparams"]


def test_feature_hints_train_an_adapter_and_resume(tmp_path):
    """The hint loss on the neck's output goes through a 1x1 adapter from the
    student's channels to the teacher's: it is checkpointed with the student,
    a resumed run ends where a straight one does, and the hint changes what
    the student learns."""
    import paddle
    from paddle.utils import unique_name

    from slim.methods.det_distill import distill_online
    from slim.nets.det_db import DBNet, default_widths

    w = {k: max(8, v // 4) if isinstance(v, int) else v for k, v in default_widths().items()}
    wide = dict(w, **{f"neck.{p}": 16 for p in ("p5", "p4", "p3", "p2")})
    paddle.seed(2)
    teacher = DBNet(wide, with_thresh=False)
    teacher.eval()

    def fresh():
        paddle.seed(1)
        return DBNet(w, with_thresh=False)

    with unique_name.guard():  # a name scope of its own, as in the prune job: the adapter must not take its names
        paddle.seed(1)
        straight = DBNet(w, with_thresh=False)
    plain = fresh()
    with unique_name.guard():
        distill_online(straight, teacher, _noise_crop, 4, 2, 1e-3, tmp_path / "a", every=2, feature_weight=1.0)
    distill_online(plain, teacher, _noise_crop, 4, 2, 1e-3, tmp_path / "p", every=2)
    kept = paddle.load(str(tmp_path / "a" / "step_000004.pdparams"))
    assert list(kept["adapter.weight"].shape) == [64, 32, 1, 1]
    interrupted = fresh()
    distill_online(interrupted, teacher, _noise_crop, 4, 2, 1e-3, tmp_path / "b", every=2, feature_weight=1.0,
                   stop_after=3)
    resumed = fresh()
    r = distill_online(resumed, teacher, _noise_crop, 4, 2, 1e-3, tmp_path / "b", every=2, feature_weight=1.0)
    assert r["resumed_from"] == 2
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert np.allclose(a.numpy(), b.numpy(), atol=1e-6), k
    moved = [k for (k, a), (_, b) in zip(straight.state_dict().items(), plain.state_dict().items())
             if k.startswith("neck.") and not np.allclose(a.numpy(), b.numpy(), atol=1e-6)]
    assert moved, "the hint loss left the neck where plain distillation put it"


def _noise_crop(rng, with_labels):  # module level: the worker unpickles it
    return rng.randint(0, 255, (64, 64, 3)).astype(np.uint8), [] if with_labels else None


def test_batches_made_in_a_worker_train_to_the_same_weights(tmp_path):
    """The teacher's maps and the crops made by a worker ahead of each step
    are the ones this process would make: the same weights after training,
    with labels too, and a resumed run with a worker ends where one without does."""
    import paddle

    from slim.jobs.prune_scan import DetScan
    from slim.methods.det_distill import Batches, distill_online
    from slim.nets.det_db import DBNet, default_widths

    w = {k: max(8, v // 4) if isinstance(v, int) else v for k, v in default_widths().items()}
    paddle.seed(2)
    teacher = DBNet(w, with_thresh=False)
    teacher.eval()
    builder = DetScan(teacher, [1, 3, 64, 64], "fpgm", [], 64)
    here = Batches(lambda: teacher, _noise_crop, 2, True, False).batch(5)
    there = Batches(builder.net, _noise_crop, 2, True, False).batch(5)
    assert sorted(here) == ["lab", "mask", "t", "x"]
    assert all(np.allclose(here[k], there[k], atol=1e-6) for k in here)

    def fresh():
        paddle.seed(1)
        return DBNet(w, with_thresh=False)

    a, b = fresh(), fresh()
    distill_online(a, teacher, _noise_crop, 4, 2, 1e-3, tmp_path / "a", every=2, label_weight=1.0)
    distill_online(b, teacher, _noise_crop, 4, 2, 1e-3, tmp_path / "b", every=2, label_weight=1.0, stop_after=3,
                   teacher_in_worker=builder.net)
    b = fresh()
    r = distill_online(b, teacher, _noise_crop, 4, 2, 1e-3, tmp_path / "b", every=2, label_weight=1.0,
                       teacher_in_worker=builder.net)
    assert r["resumed_from"] == 2
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert np.allclose(x.numpy(), y.numpy(), atol=1e-5), k


def _crop_with_target(rng, with_labels):  # a sample that carries its target map (DetPool.maps)
    crop = rng.randint(0, 255, (64, 64, 3)).astype(np.uint8)
    return crop, [] if with_labels else None, (crop[..., 0] > 200).astype(np.float32)


def test_targets_carried_by_the_sample_replace_the_teacher(tmp_path):
    """A sample's third item (the teacher's map cut from the whole photo at
    its scale) is the target as it is: the teacher does not run for it, but
    still runs for the hint loss, whose features it alone gives."""
    import paddle

    from slim.methods.det_distill import Batches, distill_online
    from slim.nets.det_db import DBNet, default_widths

    def no_teacher():
        raise AssertionError("the teacher ran though the sample carried the target")

    b = Batches(no_teacher, _crop_with_target, 2, True, False).batch(7)
    rng = np.random.RandomState(20261123 + 7)  # det_distill.SEED + step: what step 7 draws
    want = np.stack([_crop_with_target(rng, True)[2] for _ in range(2)])[:, None]
    assert sorted(b) == ["lab", "mask", "t", "x"] and np.array_equal(b["t"], want) and want.any()

    w = {k: max(8, v // 4) if isinstance(v, int) else v for k, v in default_widths().items()}
    paddle.seed(2)
    teacher = DBNet(w, with_thresh=False)
    teacher.eval()
    f = Batches(lambda: teacher, _crop_with_target, 2, False, False, features=True).batch(7)
    assert np.array_equal(f["t"], want) and f["f"].shape == (2, 32, 8, 8)

    def trained(sample, d):
        paddle.seed(1)
        net = DBNet(w, with_thresh=False)
        distill_online(net, teacher, sample, 2, 2, 1e-3, tmp_path / d, every=2)
        return net

    a, c = trained(_crop_with_target, "a"), trained(_noise_crop, "c")  # the same crops, other targets
    assert any(not np.allclose(x.numpy(), y.numpy()) for x, y in zip(a.parameters(), c.parameters()))


TINY = """
prune: {ratios: [0.4, 0.8], sensitivity_images: 4, sensitivity_side: 128, input_size: 128, flops_keep: 0.6}
finetune: {steps: 4, batch_size: 2, crop_size: 128, checkpoint_every: 2, feature_weight: 1.0, teacher_scale: 2.0}
eval: {limit_side_len: 320, nb_subset: 2, bench_shape: [1, 3, 128, 128]}
"""


def icdar_subset(tmp_path, n: int = 3):
    """The first `n` real ICDAR 2015 images with their labels, as an ICDAR folder named icdar{n}."""
    icdar = need(SHARED / "data" / "icdar2015_toy")
    data = tmp_path / f"icdar{n}"
    for sub in ("imgs", "gt"):
        (data / sub).mkdir(parents=True)
    for i in range(1, n + 1):
        (data / "imgs" / f"img_{i}.jpg").write_bytes((icdar / "imgs" / f"img_{i}.jpg").read_bytes())
        (data / "gt" / f"gt_img_{i}.txt").write_bytes((icdar / "gt" / f"gt_img_{i}.txt").read_bytes())
    return data


def test_tiny_prune_run_end_to_end(tmp_path):
    """The real CLI on the real model: sensitivity on crops of real photos
    against the float model's detections, plan, fine-tune on augmented crops,
    export, opt, x86 and ARM `.nb` evaluation and a report (tiny settings, 3
    real photos learnt from and scored on)."""
    need(DET_ONNX)
    data = icdar_subset(tmp_path)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "slim.cli", "prune", "det_mobile", "--model", str(DET_ONNX), "--recipe", str(recipe),
           "--images", str(data), "--data", str(data), "--out", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, env=os.environ.copy(), timeout=900)
    assert p.returncode in (0, 1), p.stderr[-2000:]   # 1: a 4-step fine-tune may miss the hmean budget
    r = json.loads((out / "report.json").read_text())
    assert r["task"] == "det" and r["metric"] == "hmean" and r["eval_set"]["parts"] == {"icdar3": 3}
    assert r["ratios"]["flops"] <= 0.6
    assert all(u["keep"] % 8 == 0 or u["keep"] == u["channels"] for u in r["pruning_plan"]["units"])
    assert "notice:" not in p.stderr  # real photos given for both
    assert r["photos"] == {"source": "icdar3", "real": True, "pool": 3, "holdout": 0, "labelled": True}
    assert r["sensitivity_set"]["against"] == "the float model's detections"  # label-free: the labels stay unused
    assert r["finetune"]["label_weight"] == 0.0 and r["finetune"]["pool"] == "icdar3"
    assert r["finetune"]["feature_weight"] == 1.0  # the hint loss, in the job's own name scopes
    assert r["finetune"]["teacher_scale"] == 2.0  # targets from the float model's maps at 640 on the whole photos
    b = r["baseline"]["subset"]
    assert b["size"] == 2 and b["nb_arm"]["hmean"] == pytest.approx(b["nb_x86"]) == pytest.approx(b["inference"])
    assert r["baseline"]["metric_value"] == r["baseline"]["per_set"]["icdar3"]["hmean"]
    # the drop's spread when the gate photos are drawn again, from each model's per-photo counts
    assert [len(r[s]["per_set"]["icdar3"]["per_image"]) for s in ("baseline", "slim")] == [3, 3]
    di = r["drop_interval"]
    assert di["low"] <= di["high"] and di["method"] == "paired bootstrap over the 3 gate images, 2000 rounds"
    assert r["slim"]["instructions_per_run"] < r["baseline"]["instructions_per_run"]
    assert r["slim"]["nb_bytes_arm"] < r["baseline"]["nb_bytes_arm"]
    assert r["reference"]["name"] == "ch_ppocr_mobile_v2.0_det_prune" and r["reference"]["flops"] > 0
    # the float side was scored by a worker during the fine-tune; its files moved into the output
    assert 0 <= r["reference"]["hmean_dygraph"]["icdar3"] <= 1 and r["reference"]["seconds"] >= 0
    for f in ("report.md", "sensitivity.png", "accuracy_vs_flops.png", "ch_ppocr_mobile_v2.0_det_pruned_arm.nb",
              "inference_pruned/inference.pdmodel", "ch_ppocr_mobile_v2.0_det_float_x86.nb",
              "inference_float/inference.pdmodel"):
        assert (out / f).is_file(), f
    assert "Pruning plan" in (out / "report.md").read_text()
    assert "hint loss on the neck's output" in (out / "report.md").read_text()
    assert "seen at 2x the test scale" in (out / "report.md").read_text()
    # a rerun reuses the cached sensitivity scan and fine-tune checkpoints
    p2 = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, env=os.environ.copy(), timeout=900)
    r2 = json.loads((out / "report.json").read_text())
    assert p2.returncode == p.returncode and r2["finetune"]["resumed_from"] == 4
    # and says so: its time is not the job's (slim bench fails the wall-time target on it)
    assert r2["cached"] == ["float maps", "sensitivity scan", "fine-tune (from step 4)"]
    assert "A rerun: float maps, sensitivity scan, fine-tune (from step 4) came from the job cache" in \
        (out / "report.md").read_text()
    assert r2["slim"]["per_set"] == r["slim"]["per_set"]


def test_prune_bad_inputs_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("prune: {flops_keep: 1.5}\n")
    p = subprocess.run([sys.executable, "-m", "slim.cli", "prune", "det_mobile", "--recipe", str(bad)],
                       capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert p.returncode == 2 and "prune.flops_keep` must lie between 0 and 1" in p.stderr and "Traceback" not in p.stderr
    bad.write_text("finetune: {teacher_scale: 0.5}\n")
    p = subprocess.run([sys.executable, "-m", "slim.cli", "prune", "det_mobile", "--recipe", str(bad)],
                       capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert p.returncode == 2 and "bad.yaml: `finetune.teacher_scale` must be 1 (the test scale) or more, got 0.5" in p.stderr
    p = subprocess.run([sys.executable, "-m", "slim.cli", "prune", "det_mobile", "--model", "ch_ppocr_mobile_v2.0_cls"],
                       capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert p.returncode == 2 and "is a cls model; this command needs a det model" in p.stderr


def test_distillation_uses_the_threshold_map_when_both_have_that_head(tmp_path):
    """A trained checkpoint has DB's threshold head: the teacher then gives
    probability, threshold and binary maps and the student learns the first
    two; without that head only the probability map (the ONNX/inference case)."""
    import paddle
    import paddle.nn.functional as F

    from slim.methods.det_distill import bce_dice_loss, distill_loss, distill_online
    from slim.nets.det_db import DBNet

    paddle.seed(0)
    teacher, student = DBNet(with_thresh=True), DBNet(with_thresh=True)
    teacher.eval()
    x = paddle.to_tensor(np.random.RandomState(0).rand(4, 3, 64, 64).astype(np.float32))
    teacher.head.all_maps = True
    with paddle.no_grad():
        t = teacher(x)
    teacher.head.all_maps = False
    assert t.shape == [4, 3, 64, 64]
    student.train()
    pred = student(paddle.to_tensor(np.random.RandomState(1).rand(4, 3, 64, 64).astype(np.float32)))
    full, prob_only = float(distill_loss(pred, t, F)), float(bce_dice_loss(pred[:, :1], t[:, :1], F))
    assert full == pytest.approx(prob_only + float(F.l1_loss(pred[:, 1:2], t[:, 1:2])), rel=1e-5)

    def sample(rng, with_labels):
        return rng.randint(0, 255, (64, 64, 3)).astype(np.uint8), [] if with_labels else None

    r = distill_online(student, teacher, sample, steps=2, batch_size=2, lr=1e-3, ckpt_dir=tmp_path / "ckpt",
                       label_weight=0.5)  # with (empty) labels too: DB's probability-map loss on them
    assert r["steps"] == 2 and np.isfinite(r["loss"]) and not teacher.head.all_maps


def test_holdout_scores_against_detections_and_labels(det_net, tmp_path):
    """The held-out photos are scored against the float model's own boxes
    (label-free: the float model then reads 1.0, computed from the same
    pass that made the boxes) or against their labels (the float model's
    hmean on them, as net_hmean gives it)."""
    from slim.data import sources
    from slim.data.det_pool import DetPool, net_hmean
    from slim.jobs.prune_det import holdout_scores
    from slim.methods.pruning import pruned_copy

    items = list(sources.photos(str(icdar_subset(tmp_path))))
    pool = DetPool([], items, [], True, 960, "icdar3", "d")
    student = pruned_copy(det_net, [1, 3, 320, 320], "fpgm", {"backbone.stage2.5.expand_conv.conv.weight": 0.8,
                                                              "backbone.stage3.0.linear_conv.conv.weight": 0.8})
    free = holdout_scores(det_net, student, pool, labels=False)
    assert free["against"] == "the float model's detections" and free["photos"] == 3
    assert free["float"] == pytest.approx(1.0) and 0 <= free["pruned"] < 1
    lab = holdout_scores(det_net, student, pool, labels=True)
    assert lab["against"] == "labels" and lab["float"] == pytest.approx(net_hmean(det_net, items, 960))
    assert lab["pruned"] == pytest.approx(net_hmean(student, items, 960))
    # with the teacher seen at 2x: against its detections there, which the float model at 960 does not all find
    from slim.data.det_pool import map_boxes, maps_hmean, net_maps, to_u8

    big = [to_u8(m) for m in net_maps(det_net, [img for img, _ in items], 960, scale=2.0, batch=1)]
    pool2 = DetPool([], items, [], True, 960, "icdar3", "d", holdout_maps=big, teacher_scale=2.0)
    two = holdout_scores(det_net, student, pool2, labels=False)
    assert two["against"] == "the float model's detections at 2x the test scale"
    ref = [(img, [{"points": b, "transcription": "text"} for b in bs])
           for (img, _), bs in zip(items, map_boxes([img for img, _ in items], [m / np.float32(255) for m in big]))]
    assert two["float"] == pytest.approx(maps_hmean(ref, net_maps(det_net, [img for img, _ in items], 960)))
    assert two["float"] < 0.9, two
