"""Recognition: the v2.0 CRNN rebuilt from the ONNX exports (parity with
onnxruntime, Paddle Inference with IR optimisation on and off, the ARM `.nb`),
dictionaries, CTC decoding, the word metrics, and LSTM weights stored int8."""
from __future__ import annotations

import numpy as np
import pytest

from lite.errors import LiteError
from lite.ocr.rec import Charset, charset_for, decode, item_scores, preprocess, word_metrics

from .conftest import SHARED, need

EN_ONNX = SHARED / "models" / "en_number_mobile_v2.0_rec" / "model.onnx"
JAPAN_ONNX = SHARED / "models" / "japan_mobile_v2.0_rec" / "model.onnx"


@pytest.fixture(scope="module")
def en_dir(tmp_path_factory):
    from slim.families.model_source import export_inference, load_rec

    _, net = load_rec(str(need(EN_ONNX)))
    return export_inference(net, tmp_path_factory.mktemp("rec") / "en", [None, 3, 32, None])


@pytest.mark.parametrize("onnx_file,classes,slope", [(EN_ONNX, 97, 0.2), (JAPAN_ONNX, 4400, 1 / 6)])
def test_crnn_from_onnx_matches_onnxruntime(onnx_file, classes, slope, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    import paddle

    from lite.parity import paddle_inference
    from slim.families.model_source import export_inference, load_rec

    name, net = load_rec(str(need(onnx_file)))
    assert name == onnx_file.parent.name and net.n_classes == classes and net.hidden_size == 48
    # the japan export's hard sigmoid has slope 1/6 where PaddleOCR's SE uses 0.2: read from the file
    assert abs(net.backbone.blocks[0].mid_se.slope - slope) < 1e-6
    x = np.random.RandomState(0).uniform(-1, 1, (2, 3, 32, 200)).astype(np.float32)
    ref = ort.InferenceSession(str(onnx_file)).run(None, {"x": x})[0]
    assert ref.shape == (2, 50, classes)
    assert np.abs(net(paddle.to_tensor(x)).numpy() - ref).max() < 1e-4
    d = export_inference(net, tmp_path / "inf", [None, 3, 32, None])
    for ir in (True, False):
        out = next(iter(paddle_inference(str(d), [[x]], ir_optim=ir)[0].values()))
        assert np.abs(out - ref).max() < 1e-4, f"IR optim {ir}"
    _, again = load_rec(str(d))  # and back from the inference model (rnn WeightList order, slope attr)
    assert np.abs(again(paddle.to_tensor(x)).numpy() - ref).max() < 1e-4


def test_not_a_crnn_is_refused():
    from slim.families.model_source import load_rec

    with pytest.raises(LiteError, match="not a v2.0 CRNN recognizer"):
        load_rec(str(need(SHARED / "models" / "ch_ppocr_mobile_v2.0_det" / "model.onnx")))


def test_dictionaries_fit_by_class_count():
    en = charset_for("en_dict.txt", 97)
    assert len(en.chars) == 95 and en.use_space and en.classes[-1] == " " and len(en) == 97
    ja = charset_for("dict/japan_dict.txt", 4400)
    assert not ja.use_space and len(ja) == 4400
    ch = charset_for("ppocr_keys_v1.txt", 6625)
    assert len(ch.chars) == 6623 and ch.use_space
    with pytest.raises(LiteError, match=r"en_dict.txt: 95 characters, so 96 or 97 classes .* outputs 4400"):
        charset_for("en_dict.txt", 4400)
    with pytest.raises(LiteError, match="no such dictionary"):
        charset_for("nowhere_dict.txt", 10)


def test_ctc_greedy_decode_merges_repeats_and_drops_blanks():
    cs = Charset(list("abc"), use_space=True)
    steps = [1, 1, 0, 1, 2, 2, 0, 0, 4, 3]  # a a _ a b b _ _ ' ' c
    probs = np.full((1, len(steps), 5), 0.01, np.float32)
    for t, k in enumerate(steps):
        probs[0, t, k] = 0.9
    (text, conf), = decode(probs, cs)
    assert text == "aab c" and abs(conf - 0.9) < 1e-6
    with pytest.raises(LiteError, match="has 5 classes"):
        decode(np.zeros((1, 4, 7), np.float32), cs)


def test_word_metrics():
    r = word_metrics(["HOTEL", "hotel", "GRAN"], ["HOTEL", "HOTEL", "GRAND"])
    assert r["accuracy"] == pytest.approx(1 / 3) and r["size"] == 3
    assert word_metrics(["HOTEL", "hotel", "GRAN"], ["HOTEL", "HOTEL", "GRAND"], True)["accuracy"] == pytest.approx(2 / 3)
    assert r["norm_edit_dis"] == pytest.approx(1 - (0 + 5 / 5 + 1 / 5) / 3)


def test_preprocess_pads_like_predict_rec():
    img = np.full((20, 100, 3), 255, np.uint8)
    x = preprocess(img, 32, min_width=320)
    assert x.shape == (3, 32, 320) and x[:, :, :160].min() == 1.0 and x[:, :, 160:].max() == 0.0
    wide = preprocess(np.full((10, 200, 3), 0, np.uint8), 32, min_width=320)
    assert wide.shape == (3, 32, 640)
    with pytest.raises(LiteError, match="zero-size image"):
        preprocess(np.zeros((32, 0, 3), np.uint8), 32)


def test_real_crops_and_out_of_dictionary_labels(en_dir, tmp_path):
    """en_number reads the 25 real English crops as the reference figures say
    (3/10 mmocr crops + 11/15 PaddleOCR crops); labels with characters outside
    the dictionary are counted, not fatal."""
    import cv2

    from lite.evaluate import eval_rec_inference
    from slim.data.rec_data import real_crops

    cs = charset_for("en_dict.txt", 97)
    real = real_crops(need(SHARED / "data" / "rec_words_en").parent.parent, cs)
    r = eval_rec_inference(str(en_dir), real, cs)
    assert r["size"] == 25 and r["accuracy"] == pytest.approx(14 / 25) and r["oov_labels"] == 0
    img = next(im for im, text in real.items if text == "america")  # one it reads right
    cv2.imwrite(str(tmp_path / "a.png"), img)
    (tmp_path / "labels.txt").write_text("a.png\tamerica\u00e9\u4e2d\n", encoding="utf-8")
    from lite.readers import read_label_file

    r = eval_rec_inference(str(en_dir), read_label_file(tmp_path / "labels.txt"), cs)
    assert r["oov_labels"] == 1 and set(r["oov_chars"]) == {"\u00e9", "\u4e2d"} and r["accuracy"] == 1.0


def test_lstm_weights_stored_int8_run_on_arm(en_dir, tmp_path):
    """Paddle Lite has no int8 rnn kernel; storing the BiLSTM weights as int8
    (rebuilt at run time) shrinks the .nb by 0.56 MB and the ARM .nb still
    matches Paddle Inference (the uint8 offset keeps ARM's unsigned `char` cast right)."""
    from lite.opt import opt
    from lite.parity import parity
    from slim.graph.rnn_weights import int8_rnn_weights

    q = int8_rnn_weights(en_dir, tmp_path / "rnn8")
    f_nb = opt(en_dir, target="arm", out=tmp_path / "f.nb")
    q_nb = opt(q, target="arm", out=tmp_path / "q.nb")
    saved = f_nb.stat().st_size - q_nb.stat().st_size
    assert 3 * 185_856 * 0.9 < saved < 3 * 185_856 * 1.05  # 3 of every 4 bytes of the LSTM's 185,856 weights
    r = parity(str(q_nb), str(q), target="arm64-emu", shapes={"x": (1, 3, 32, 320)}, samples=1)
    assert r["max_abs_diff"] < 1e-4
    from lite.parity import paddle_inference

    x = np.random.RandomState(1).uniform(-1, 1, (1, 3, 32, 320)).astype(np.float32)
    a = next(iter(paddle_inference(str(en_dir), [[x]], True)[0].values()))
    b = next(iter(paddle_inference(str(q), [[x]], True)[0].values()))
    assert (a.argmax(2) == b.argmax(2)).all() and np.abs(a - b).max() < 0.05


def _real_words(tmp_path, n: int):
    """`n` ICDAR 2015 test word crops spread over the set (a rec label file: the
    gate) and twelve ICDAR 2015 training photos with quads (words cut from them:
    calibration, scans, pools), as a user would give them."""
    test = need(SHARED / "data" / "ic15_words_test" / "rec_gt.txt")
    train = need(SHARED / "data" / "icdar2015_train")
    rows = test.read_text(encoding="utf-8").splitlines()
    gate = tmp_path / "gate.txt"
    gate.write_text("".join(f"{test.parent / rows[int(k * len(rows) / n)]}\n" for k in range(n)), encoding="utf-8")
    d = tmp_path / "train"
    for sub in ("imgs", "gt"):
        (d / sub).mkdir(parents=True)
    for i in range(11, 23):
        (d / "imgs" / f"img_{i}.jpg").symlink_to(train / "imgs" / f"img_{i}.jpg")
        (d / "gt" / f"gt_img_{i}.txt").symlink_to(train / "gt" / f"gt_img_{i}.txt")
    return gate, d


TINY = """model: en_number_mobile_v2.0_rec
task: rec
quant: {algos: [avg], op_types: [depthwise_conv2d], rnn_weights: int8, calib_size: 32}
mixed: {enabled: true, max_float_layers: 3, sensitivity_eval: 40}
qat: {enabled: false}
gate: {max_drop_points: 12.0, eval_synthetic: 20, cpu: cortex-a76, select_size: 40}
"""


def test_tiny_quant_rec_falls_back_to_mixed_precision(tmp_path):
    """Only the depthwise convs int8 (a small, fast search space), real words:
    plain PTQ loses ~37 points on the held-out training words, so the job
    ranks the 11 layers by sensitivity and keeps the most sensitive ones float
    until the .nb is within budget (the early ReLU blocks' depthwise convs,
    as the full scan finds)."""
    import json

    from .test_slim_quant_cls import slim_cli

    need(EN_ONNX)
    gate, train = _real_words(tmp_path, 40)
    rows = gate.read_text(encoding="utf-8").splitlines(keepends=True)
    halves = [tmp_path / "gate_a.txt", tmp_path / "gate_b.txt"]  # two gate sets, pooled as the benches pool theirs
    for h, part in zip(halves, (rows[::2], rows[1::2])):
        h.write_text("".join(part), encoding="utf-8")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    out = tmp_path / "out"
    p = slim_cli("quant", "rec", "--recipe", str(recipe), "--model", str(EN_ONNX), "--data", *map(str, halves),
                 "--calib", str(train), "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((out / "report.json").read_text())
    assert r["task"] == "rec" and r["model"] == "en_number_mobile_v2.0_rec"
    assert r["rec"]["dictionary"] == "en_dict.txt" and r["rec"]["classes"] == 97 and r["rec"]["height"] == 32
    assert r["eval_set"]["parts"] == {"gate_a": 20, "gate_b": 20} and r["data"]["calibration_real"]
    # candidates are ranked on words held out of calibration, never on the gate words: whole photos (of
    # 12 photos' 59 words the 32 evenly spread calibrate, so 15 remain on the photos held out)
    assert r["selection_set"] == {"name": "train-words-select", "size": 15, "is_gate_set": False}
    plain = r["search"][0]  # so far over budget on Paddle Inference that it never went to the ARM gate
    assert plain["algo"] == "avg" and r["baseline"]["metric_value_selection"] - plain["accuracy_inference"] > 0.13
    assert [g["algo"] for g in r["gate"]][-1] == r["slim"]["algo"] and r["gate"][-1]["passed"]
    s = r["slim"]
    assert s["method"] == "mixed" and 1 <= len(s["float_layers"]) <= 3
    sens = json.loads((out / "sensitivity.json").read_text())
    assert len(sens) == 11  # the depthwise convs only: what op_types quantizes
    assert s["float_layers"] == sorted(sens, key=lambda w: -sens[w])[:len(s["float_layers"])]
    b = r["baseline"]
    assert b["metric_value"] - s["metric_value"] <= 0.12 + 1e-9
    assert abs(s["metric_value"] - s["metric_value_inference"]) <= 0.05  # the .nb agrees with Paddle Inference
    assert abs(b["metric_value"] - b["metric_value_x86"]) < 1e-9
    # each set is scored once; the pooled figures are read off their per-crop scores
    per = r["per_set"]
    assert [per[k]["size"] for k in ("gate_a", "gate_b")] == [20, 20]
    assert s["metric_value_inference"] == pytest.approx(sum(v["int8_inference"] for v in per.values()) / 2, abs=1e-12)
    assert b["metric_value"] == pytest.approx(sum(v["float_nb_x86"] for v in per.values()) / 2, abs=1e-12)
    assert r["ratios"]["nb_bytes"] < 0.75  # the BiLSTM's weights stored int8
    assert (out / "sensitivity.png").is_file() and "sensitivity.png" in (out / "report.md").read_text()


def test_a_dictionary_that_does_not_fit_is_named(tmp_path):
    from .test_slim_quant_cls import slim_cli

    need(EN_ONNX)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(TINY + "dictionary: dict/japan_dict.txt\n")
    p = slim_cli("quant", "rec", "--recipe", str(recipe), "--model", str(EN_ONNX), "--out", str(tmp_path / "o"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "dict/japan_dict.txt: 4399 characters, so 4400 or 4401 classes" in p.stderr and "outputs 97" in p.stderr
    assert not (tmp_path / "o").exists()


def test_synthetic_words_follow_the_alphabet_and_splits_are_disjoint():
    from slim.data.rec_data import synthetic

    ja = charset_for("dict/japan_dict.txt", 4400)
    words = [t for _, t in synthetic(40, "eval", ja).items]
    kana = sum(0x3041 <= ord(c) <= 0x30FA for w in words for c in w) / sum(len(w) for w in words)
    assert 0.4 < kana < 0.8 and all(c in ja.index for w in words for c in w)
    ch = charset_for("ppocr_keys_v1.txt", 6625)
    ch_words = [t for _, t in synthetic(40, "eval", ch, 48).items]
    assert not any(0x3041 <= ord(c) <= 0x30FA for w in ch_words for c in w)  # its few kana are not drawn
    en = charset_for("en_dict.txt", 97)
    ev, ca = synthetic(60, "eval", en), synthetic(60, "calib", en)
    assert not {t for _, t in ev.items} & {t for _, t in ca.items}
    assert [t for _, t in synthetic(60, "eval", en).items] == [t for _, t in ev.items]  # fixed seed
    assert all(img.shape[1] <= 10 * img.shape[0] + 1 for img, _ in ev.items)  # all fit the 320 default width


def test_x86_rec_eval_survives_width_changes(tmp_path):
    """paddlelite 2.13rc0's x86 runtime gives wrong outputs (then a double free)
    when one session sees a second input width on PP-OCRv4 rec; lite eval
    opens one session per width, so the x86 .nb scores what Paddle Inference does."""
    from pathlib import Path

    from lite.evaluate import eval_rec_inference, eval_rec_nb
    from lite.opt import opt
    from lite.readers import ListReader
    from slim.data.rec_data import real_crops, synthetic

    model = need(SHARED / "models" / "ch_PP-OCRv4_rec" / "inference.pdmodel").parent
    cs = charset_for("ppocr_keys_v1.txt", 6625)
    reader = ListReader("mixed-widths", synthetic(12, "eval", cs, 48).items + real_crops(Path(SHARED), cs).items)
    from lite.ocr.rec import padded_width

    assert len({padded_width(im, 48, 320) for im, _ in reader.items}) >= 2
    nb = opt(model, target="x86", out=tmp_path / "v4_x86.nb")
    got = eval_rec_nb(str(nb), reader, cs, 48, target="x86")
    ref = eval_rec_inference(str(model), reader, cs, 48)
    assert got["accuracy"] == ref["accuracy"] and got["norm_edit_dis"] == pytest.approx(ref["norm_edit_dis"])
    assert ref["accuracy"] > 0.5


def test_pruned_crnn_rebuilds_exactly():
    """PaddleSlim's in-place pruning of the CRNN backbone, then a fresh CRNN
    with the pruned widths (what is exported): the same outputs, fewer FLOPs,
    channel counts as planned."""
    import copy

    import paddle

    from slim.families.model_source import load_rec
    from slim.methods.pruning import Pruner, flops
    from slim.jobs.prune_rec import clean_copy

    _, net = load_rec(str(need(EN_ONNX)))
    work = copy.deepcopy(net)
    pruner = Pruner(work, [1, 3, 32, 320], "fpgm", rebuild=clean_copy)
    assert "backbone.blocks.9.expand_conv.conv.weight" in pruner.units
    assert not any(u.startswith("backbone.conv2") for u in pruner.units)  # feeds the LSTM: left whole
    pruner.apply({"backbone.blocks.9.expand_conv.conv.weight": 0.5, "backbone.blocks.4.expand_conv.conv.weight": 0.6,
                  "backbone.blocks.1.linear_conv.conv.weight": 0.5})
    small = clean_copy(work)
    assert small.backbone.blocks[9].expand_conv.conv.weight.shape[0] == 144
    assert small.backbone.blocks[4].bottleneck_conv.conv.weight.shape[0] == 48
    assert small.backbone.blocks[2].expand_conv.conv.weight.shape[1] == 8
    x = paddle.to_tensor(np.random.RandomState(0).uniform(-1, 1, (2, 3, 32, 320)).astype("float32"))
    work.eval()
    assert float((small(x) - work(x)).abs().max()) < 1e-5
    assert flops(small, [1, 3, 32, 320]) < 0.9 * flops(net, [1, 3, 32, 320])


TINY_PRUNE = """
model: en_number_mobile_v2.0_rec
task: rec
prune: {flops_keep: 0.7, ratios: [0.5], sensitivity_images: 16}
finetune: {steps: 10, batch_size: 16, pool_size: 64, checkpoint_every: 5}
eval: {max_drop_points: 100.0}
"""


def test_tiny_prune_rec(tmp_path):
    """`slim prune rec` end to end on a small budget: the plan reaches its
    FLOPs target with channels at multiples of 8, the pruned ARM .nb is
    smaller and cheaper, and both .nb files are scored on the user's words."""
    import json

    from .test_slim_quant_cls import slim_cli

    need(EN_ONNX)
    gate, train = _real_words(tmp_path, 8)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_PRUNE)
    out = tmp_path / "out"
    p = slim_cli("prune", "rec", "--recipe", str(recipe), "--model", str(EN_ONNX), "--data", str(gate),
                 "--calib", str(train), "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    assert "notice:" not in p.stderr
    r = json.loads((out / "report.json").read_text())
    assert r["eval_set"]["parts"] == {"gate": 8} and r["data"]["calibration_real"]
    assert 0.6 < r["ratios"]["flops"] <= 0.7
    assert all(u["keep"] % 8 == 0 or u["keep"] == u["channels"] for u in r["pruning_plan"]["units"])
    assert r["ratios"]["nb_bytes"] < 0.95 and r["ratios"]["instructions"] < 0.97
    assert r["baseline"]["per_set"]["gate"]["size"] == 8 and r["finetune"]["steps"] == 10
    assert "FLOPs" in (out / "report.md").read_text() and (out / "inference_pruned").is_dir()


def test_lite_eval_rec_on_x86_equals_paddle_inference(en_dir, tmp_path):
    """`lite eval --task rec` on the x86 .nb of en_number, real IC15 word crops
    (one crop per run, so a new width every few crops: one x86 worker per
    shape): exact, case-insensitive alphanumeric and edit-distance figures
    equal Paddle Inference's; the dictionary comes from --dict and the target
    from the .nb."""
    import json

    from lite.evaluate import eval_rec_inference
    from lite.opt import opt
    from lite.readers import read_rec_data

    from .conftest import lite_cli

    src = need(SHARED / "data" / "ic15_words_test" / "rec_gt.txt")
    lines = src.read_text(encoding="utf-8").splitlines()[:30]
    (tmp_path / "gt.txt").write_text("".join(f"{src.parent / ln}\n" for ln in lines), encoding="utf-8")
    nb = opt(en_dir, target="x86", out=tmp_path / "en_x86.nb")
    p = lite_cli("eval", str(nb), "--task", "rec", "--data", str(tmp_path), "--dict", "en_dict.txt", "--json")
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["target"]["target"] == "x86" and got["size"] == 30
    ref = eval_rec_inference(str(en_dir), read_rec_data(tmp_path / "gt.txt"), charset_for("en_dict.txt", 97))
    for k in ("accuracy", "accuracy_alnum", "norm_edit_dis"):
        assert got[k] == pytest.approx(ref[k]), k
    assert 0.3 < got["accuracy_alnum"] and got["accuracy"] <= got["accuracy_case_insensitive"] <= got["accuracy_alnum"]


def test_item_scores_average_to_each_metric():
    """Per-crop parts of each gate metric (the items of a paired bootstrap): their mean is the metric."""
    preds, labels = ["Hotel!", "hotel", "GRAN"], ["HOTEL", "HOTEL", "GRAND"]
    assert item_scores(preds, labels, "accuracy") == [0.0, 0.0, 0.0]
    assert item_scores(preds, labels, "accuracy_case_insensitive") == [0.0, 1.0, 0.0]
    assert item_scores(preds, labels, "accuracy_alnum") == [1.0, 1.0, 0.0]
    assert item_scores(preds, labels, "norm_edit_dis") == pytest.approx([1 - 5 / 6, 0.0, 1 - 1 / 5])
    r = word_metrics(preds, labels)
    assert r["norm_edit_dis"] == pytest.approx(sum(item_scores(preds, labels, "norm_edit_dis")) / 3)


def test_alnum_protocol_ignores_case_and_punctuation():
    r = word_metrics(["Hotel!", "co-op", "GRAN"], ["HOTEL", "coop", "GRAND"], fold="alnum")
    assert r["accuracy"] == pytest.approx(2 / 3)


def _tiny_rec_task(tmp_path, en_dir):
    """(recipe, rec family bound to the en_number model): the TINY recipe
    calibrating on words cut from twelve ICDAR 2015 training photos."""
    from slim.families import get_family
    from slim.families.base import Models
    from slim.recipe import load_quant_recipe

    _, train = _real_words(tmp_path, 4)
    path = tmp_path / "r.yaml"
    path.write_text(TINY + f"data: {{calib: {train}}}\n")
    recipe = load_quant_recipe(path)
    task = get_family("rec")
    task.bind(recipe, Models("en_number_mobile_v2.0_rec", en_dir, en_dir))
    return recipe, task


def test_qat_on_labelled_words_keeps_the_named_layers_float(en_dir, tmp_path):
    """QAT with labels: the pool is the labelled calibration words minus the
    held-out selection words (those rank the candidates), each label encodes
    its word; the layers named by static weight name stay float in the .nb,
    the others int8, and the conv biases fuse as in a float export."""
    from collections import Counter

    from lite.nbfile import read_nb
    from lite.opt import opt
    from lite.readers import held_out_indices
    from slim.data import sources
    from slim.nets.weights import op_weights
    from slim.methods.qat import QATRun, layers_of, qat_finetune

    recipe, task = _tiny_rec_task(tmp_path, en_dir)
    recipe.qat.label_weight = 0.5
    words, select = sources.crops(recipe.data.calib), task.selection_set(recipe)
    pool, labelled = task.qat_labelled(recipe, 4096)
    assert len(pool) == len(labelled.labels) and labelled.weight == 0.5
    # the selection holds out whole photos (12 photos here, 59 words): the words of photos spread over them
    # (less the 32 that calibrate), and the pool has none of those photos' words
    groups = words.groups
    assert len(words) == len(groups) == 59 and len(set(groups)) == 12 and groups == sorted(groups)
    sel = held_out_indices(len(words), 32, 40, groups)
    photos = {groups[i] for i in sel}
    assert len(photos) == 8 and [task.calib_preprocess(words.items[i][0]).tobytes() for i in sel] == \
        [task.calib_preprocess(img).tobytes() for img, _ in select]
    rest = [img for (img, _), g in zip(words.items, groups) if g not in photos]
    assert len(rest) - 6 <= len(pool) <= len(rest)  # a few words have no letter of the dictionary
    held = {task.calib_preprocess(img).tobytes() for (img, _), g in zip(words.items, groups) if g in photos}
    assert not any(row.tobytes() in held for row in pool)
    classes = task.spec.charset.classes
    texts = {t for _, t in words}
    assert all("".join(classes[i] for i in lab) in texts for lab in labelled.labels)

    student, teacher, loss, shape = task.qat_setup(en_dir)
    dw = [name for name, op in op_weights(en_dir) if op == "depthwise_conv2d"]
    assert layers_of(student, en_dir, dw[:2]) == [student.backbone.blocks[0].bottleneck_conv.conv,
                                                  student.backbone.blocks[1].bottleneck_conv.conv]
    run = QATRun(steps=2, lr=1e-4, batch_size=4, input_shape=shape, pact=False, skip=dw[:2])
    run.anchor, run.anchor_share = task.synthetic_anchor(recipe, 6), 0.5  # 2 labelled + 2 synthetic per batch
    assert run.anchor.shape == (6,) + pool.shape[1:]
    q = qat_finetune(student, teacher, loss, tmp_path / "qat", pool[:16], run, en_dir, labelled)
    ops = Counter(f"{op.type}:{op.precision}" for op in read_nb(opt(q, target="arm", out=tmp_path / "q.nb")).ops)
    float_ops = Counter(op.type for op in read_nb(opt(en_dir, target="arm", out=tmp_path / "f.nb")).ops)
    assert ops["depthwise_conv2d:float"] == 2 and ops["depthwise_conv2d:int8"] == len(dw) - 2
    assert ops["conv2d:int8"] > 0 and sum(n for k, n in ops.items() if k.startswith("reshape2")) == float_ops["reshape2"]


def test_qat_starts_from_the_ptq_scales(en_dir, tmp_path):
    """`qat.init_scales: ptq`: the activation quantizers start from a PTQ
    model's scales (QAT's own moving average reads them far larger); frozen,
    the QAT model keeps them exactly while its weights train; not frozen, the
    moving average moves them."""
    from slim.graph.quant_cut import activation_scales
    from slim.methods.ptq import quant_post_static
    from slim.methods.qat import QATRun, qat_finetune

    recipe, task = _tiny_rec_task(tmp_path, en_dir)
    calib = task.calibration(recipe, 16)
    ops = ["depthwise_conv2d"]
    ptq = activation_scales(quant_post_static(en_dir, tmp_path / "ptq", calib, "avg", op_types=ops), en_dir, ops)
    assert len(ptq) >= 8 and sum(s > 0 for s in ptq.values()) >= 8

    def qat(frozen):
        student, teacher, loss, shape = task.qat_setup(en_dir)
        run = QATRun(steps=2, lr=1e-4, batch_size=4, input_shape=shape, pact=False, act_scales=ptq,
                     freeze_scales=frozen)
        out = qat_finetune(student, teacher, loss, tmp_path / f"qat_{frozen}", calib, run, en_dir)
        return list(activation_scales(out, None, ops).values())  # QAT saves its weights under other names

    start = list(ptq.values())
    frozen = qat(True)
    assert len(frozen) == len(start)
    assert all(abs(f - max(s, 1e-6)) <= 1e-6 * max(s, 1) for f, s in zip(frozen, start))
    moving = qat(False)
    assert sum(abs(m - s) > 1e-3 * max(s, 1e-3) for m, s in zip(moving, start)) >= len(start) // 2


def test_interrupted_qat_resumes_where_it_stopped(en_dir, tmp_path):
    """A QAT fine-tune killed after step 3 of 4 (a checkpoint every 2 steps)
    leaves no model; a rerun resumes from step 2 and ends with the weights and
    activation scales of an uninterrupted run: the batches come from one
    seeded stream, and a checkpoint holds the optimizer and the quantizers."""
    from slim.graph.quant_cut import activation_scales
    from slim.methods.finetune import latest_checkpoint
    from slim.methods.qat import QATRun, qat_finetune
    from slim.nets.weights import inference_params

    recipe, task = _tiny_rec_task(tmp_path, en_dir)
    calib = task.calibration(recipe, 16)

    def qat(tag, stop_after=None):
        student, teacher, loss, shape = task.qat_setup(en_dir)
        run = QATRun(steps=4, lr=1e-3, batch_size=4, input_shape=shape, pact=False)  # moving-average scales
        return qat_finetune(student, teacher, loss, tmp_path / tag, calib, run, en_dir, ckpt_dir=tmp_path / f"ckpt_{tag[0]}",
                            every=2, stop_after=stop_after)

    straight = qat("a")
    assert qat("b-killed", stop_after=3) is None and not (tmp_path / "b-killed").exists()
    assert latest_checkpoint(tmp_path / "ckpt_b")[0] == 2
    resumed = qat("b")
    assert latest_checkpoint(tmp_path / "ckpt_b")[0] == 4
    ops = ["conv2d", "depthwise_conv2d"]
    a, b = activation_scales(straight, None, ops), activation_scales(resumed, None, ops)
    assert len(a) > 10 and list(a.values()) == list(b.values())  # QAT names weights per process: compared in order
    wa, wb = inference_params(straight), inference_params(resumed)
    assert len(wa) == len(wb) > 40 and all(np.array_equal(x, y) for (_, x), (_, y) in zip(wa, wb))
    # and the training moved them: a resumed run that restarted from the float weights would differ
    assert any(not np.array_equal(x, y) for (_, x), (_, y) in zip(wa, inference_params(en_dir)) if x.shape == y.shape)
