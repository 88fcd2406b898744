"""`lite eval`: task accuracy of a `.nb` on a target, or of a Paddle inference
model (the fast stand-in for search loops, shown to agree with the `.nb`)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from .errors import LiteError
from .model_dir import ModelBuffers
from .targets import emulation_options, get_target, is_emulated

TASKS = ("cls",)


def _task(task: str):
    if task not in TASKS:
        raise LiteError(f"unknown task {task!r}; this version evaluates: {', '.join(TASKS)}")
    from .ocr import cls

    return cls


def _on_shards(t, nb: str, shards: list[list], step) -> list:
    """One loaded runner per shard, all at once (one per core on emulated
    targets); `step(session, item)` per item, results in shard order."""
    def work(shard):
        with t.load(nb) as s:
            return [step(s, item) for item in shard]

    with ThreadPoolExecutor(len(shards)) as ex:
        return [r for part in ex.map(work, shards) for r in part]


def eval_nb(nb: str, reader, task: str = "cls", target: str = "arm64-emu", cpu: str = "generic",
            workers: int = 2, batch_size: int = 16, desc: str | None = None) -> dict:
    """Accuracy of `nb` on `reader`; emulated targets use `workers` processes
    (one per core), each a loaded runner fed its share of the batches."""
    mod = _task(task)
    data = list(enumerate(mod.batches(reader, batch_size)))
    opts = emulation_options(target, cpu=cpu)
    t = get_target(target, **opts)
    workers = max(1, min(workers if is_emulated(target) else 1, len(data)))
    shards = [data[i::workers] for i in range(workers)]
    bar = tqdm(total=sum(len(y) for _, (_, y) in data), desc=desc or f"eval {task} on {target}", unit="img", leave=False)

    def step(s, item):
        k, (x, y) = item
        probs = next(iter(s.run(x).values()))
        bar.update(len(y))
        return k, probs, y

    results = sorted(_on_shards(t, nb, shards, step), key=lambda r: r[0])  # the reader's order again
    bar.close()
    probs = np.concatenate([p for _, p, _ in results])
    labels = np.concatenate([y for _, _, y in results])
    return {"metric": "accuracy", "value": mod.accuracy(probs, labels), "size": int(len(labels)),
            "target": t.describe(), "per_item": mod.correct(probs, labels)}


def eval_inference(model_dir: str | ModelBuffers, reader, task: str = "cls", batch_size: int = 32) -> dict:
    mod = _task(task)
    from .parity import paddle_inference

    data = list(mod.batches(reader, batch_size))
    if not data:
        raise LiteError(f"{reader.name}: no samples to evaluate")
    outs = paddle_inference(model_dir, [[x] for x, _ in data], ir_optim=True)
    probs = np.concatenate([next(iter(o.values())) for o in outs])
    labels = np.concatenate([y for _, y in data])
    return {"metric": "accuracy", "value": mod.accuracy(probs, labels), "size": int(len(labels)),
            "per_item": mod.correct(probs, labels)}



def det_inputs(reader, limit_side_len: int = 960) -> list[np.ndarray]:
    from .ocr.det import preprocess

    return [preprocess(img, limit_side_len)[0] for img, _ in reader]


def det_maps_nb(nb: str, inputs: list[np.ndarray], target: str = "arm64-emu", cpu: str = "generic",
                workers: int = 2, desc: str | None = None) -> list[np.ndarray]:
    """Probability maps of a det `.nb`, one image per run (sizes differ),
    spread over `workers` runner processes (on x86 too: its runner is one
    single-threaded process, and a det image is seconds of work)."""
    opts = emulation_options(target, cpu=cpu)
    t = get_target(target, **opts)
    workers = max(1, min(workers, len(inputs)))
    # big images first balances the shards; equal shapes stay together (the x86 target starts a worker per shape)
    order = sorted(range(len(inputs)), key=lambda i: (-inputs[i].size, inputs[i].shape))
    shards = [order[i::workers] for i in range(workers)]
    maps: list = [None] * len(inputs)
    bar = tqdm(total=len(inputs), desc=desc or f"det on {target}", unit="img", leave=False)

    def step(s, i):
        maps[i] = next(iter(s.run(inputs[i]).values()))[:, :1]
        bar.update(1)

    _on_shards(t, nb, shards, step)
    bar.close()
    return maps


def eval_det_nb(nb: str, reader, target: str = "arm64-emu", cpu: str = "generic", workers: int = 2,
                limit_side_len: int = 960, desc: str | None = None) -> dict:
    """hmean (ICDAR 2015) of a det `.nb` on a labelled reader."""
    from .ocr.det import hmean

    maps = det_maps_nb(nb, det_inputs(reader, limit_side_len), target, cpu, workers, desc)
    r = hmean(list(reader), maps)
    r.update(metric="hmean", value=r["hmean"], size=len(maps))
    return r


def eval_det_inference(model_dir: str | ModelBuffers, reader, limit_side_len: int = 960) -> dict:
    from .ocr.det import hmean
    from .parity import paddle_inference

    outs = paddle_inference(model_dir, [[x] for x in det_inputs(reader, limit_side_len)], ir_optim=True)
    r = hmean(list(reader), [next(iter(o.values()))[:, :1] for o in outs])
    r.update(metric="hmean", value=r["hmean"], size=len(outs))
    return r


def _rec_items(reader, charset) -> tuple[list, list[str], dict]:
    """Crops and their labels as the model can read them (characters outside
    the dictionary dropped, as PaddleOCR's label encoder does), and a count of those."""
    items, labels, oov = [], [], {"labels": 0, "chars": ""}
    for img, text in reader:
        kept, dropped = charset.encode(str(text))
        if dropped:
            oov["labels"] += 1
            oov["chars"] = "".join(sorted(set(oov["chars"] + dropped)))
        items.append((img, kept))
        labels.append(kept)
    return items, labels, oov


def _rec_result(texts: list[str], labels: list[str], oov: dict, case_insensitive: bool,
                metric: str = "accuracy") -> dict:
    from .ocr.rec import item_scores, word_metrics

    r = word_metrics(texts, labels)
    r["accuracy_case_insensitive"] = word_metrics(texts, labels, True)["accuracy"]
    r["accuracy_alnum"] = word_metrics(texts, labels, fold="alnum")["accuracy"]  # the benchmarks' protocol
    key = "accuracy_case_insensitive" if case_insensitive and metric == "accuracy" else metric
    r.update(metric=metric, value=r[key], oov_labels=oov["labels"], oov_chars=oov["chars"][:40],
             per_item=item_scores(texts, labels, key))
    return r


def eval_rec_nb(nb: str, reader, charset, height: int = 32, min_width: int = 320, target: str = "arm64-emu",
                cpu: str = "generic", workers: int = 2, case_insensitive: bool = False,
                desc: str | None = None, metric: str = "accuracy", batch_size: int = 16) -> dict:
    """Word accuracy of a rec `.nb`: crops batched by PaddleOCR's padded width,
    the batches spread over `workers` runner processes on emulated targets."""
    from .ocr.rec import batches, decode

    items, labels, oov = _rec_items(reader, charset)
    data = list(batches(items, height, min_width, batch_size))
    opts = emulation_options(target, cpu=cpu)
    t = get_target(target, **opts)
    workers = max(1, min(workers if is_emulated(target) else 1, len(data)))
    order = sorted(range(len(data)), key=lambda i: (-data[i][0].shape[3], -data[i][0].shape[0]))  # by width, then batch
    shards = [[data[i] for i in order[k::workers]] for k in range(workers)]
    texts: list = [""] * len(items)
    bar = tqdm(total=len(items), desc=desc or f"rec on {target}", unit="crop", leave=False)

    def step(s, item):
        x, ids = item
        for i, (text, _) in zip(ids, decode(next(iter(s.run(x).values())), charset)):
            texts[i] = text
        bar.update(len(ids))

    _on_shards(t, nb, shards, step)
    bar.close()
    r = _rec_result(texts, labels, oov, case_insensitive, metric)
    r["target"] = t.describe()
    return r


def eval_rec_inference(model_dir: str | ModelBuffers, reader, charset, height: int = 32, min_width: int = 320,
                       case_insensitive: bool = False, metric: str = "accuracy") -> dict:
    from .ocr.rec import batches, decode
    from .parity import paddle_inference

    items, labels, oov = _rec_items(reader, charset)
    data = list(batches(items, height, min_width))
    if not data:
        raise LiteError(f"{reader.name}: no crops to evaluate")
    outs = paddle_inference(model_dir, [[x] for x, _ in data], ir_optim=True)
    texts: list = [""] * len(items)
    for (_, ids), o in zip(data, outs):
        for i, (text, _) in zip(ids, decode(next(iter(o.values())), charset)):
            texts[i] = text
    return _rec_result(texts, labels, oov, case_insensitive, metric)


def rec_setup(nb: str, dict_path: str | None = None, height: int | None = None, min_width: int | None = None,
              target: str = "arm64-emu", cpu: str = "generic"):
    """(charset, height, min_width) for reading a rec `.nb`: given values first,
    then the bundle's manifest when the .nb sits in one, then the .nb's
    declared input height, else PaddleOCR's defaults (32, 320). The class
    count comes from the declared output, else from one run."""
    from pathlib import Path

    from .bundle import MANIFEST, open_bundle
    from .nbfile import read_nb
    from .ocr.rec import charset_for

    info = read_nb(nb)
    pre, bundle_dict = {}, None
    root = Path(nb).resolve().parent
    if (root / MANIFEST).is_file():
        b = open_bundle(root)
        rec = b.manifest["models"]["rec"]
        if b.nb("rec").resolve() == Path(nb).resolve():
            pre, bundle_dict = rec.get("preprocess", {}), root / rec["dictionary"]["file"]
    declared = info.input_shapes.get(info.inputs[0]) or []
    height = height or pre.get("height") or (declared[2] if len(declared) == 4 and declared[2] > 0 else 32)
    min_width = min_width or pre.get("min_width") or 320
    dict_path = dict_path or bundle_dict
    if not dict_path:
        raise LiteError(f"{nb}: which dictionary does this recognizer read? Give --dict (a PaddleOCR dictionary "
                        "file, or a name such as en_dict.txt, ppocr_keys_v1.txt, dict/japan_dict.txt)")
    out = list(info.output_shapes.values())
    classes = out[0][-1] if out and out[0] and out[0][-1] > 0 else None
    if classes is None:
        t = get_target(target, cpu=cpu)
        with t.load(nb) as s:
            classes = next(iter(s.run(np.zeros((1, 3, height, min_width), np.float32)).values())).shape[-1]
    return charset_for(dict_path, int(classes), nb), int(height), int(min_width)
