"""Fine-tune a pruned detector by distillation from the unpruned one: the
teacher's probability map on each new batch of crops is the target (BCE
plus dice, so the few text pixels weigh as much as the background);
optionally mixed with DB's probability-map loss on the photos' labels.

Checkpoints (weights, optimizer, step) are written every N steps with an
atomic rename; a rerun picks up the latest and continues, and the batch
order depends only on the seed and the step, so a resumed run ends where an
uninterrupted one would.

Multi-GPU: the same function under `python -m paddle.distributed.launch`;
the student is wrapped in paddle.DataParallel when the world size is > 1
and every rank draws its own slice of each batch.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from lite.errors import LiteError
from lite.ocr.det import MEAN, STD

from slim.methods.finetune import resumable_adam, train_steps

SEED = 20261123


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 BGR [N, H, W, 3] -> normalised float32 [N, 3, H, W]."""
    return ((images.astype(np.float32) / 255.0 - MEAN) / STD).transpose(0, 3, 1, 2).copy()


def shrink_map(gt: list, h: int, w: int, ratio: float = 0.4) -> np.ndarray:
    """DB's probability-map label: each care quad shrunk by D = A (1 - r^2) / L."""
    import cv2
    import pyclipper
    from shapely.geometry import Polygon

    m = np.zeros((h, w), np.float32)
    for g in gt:
        if g.get("transcription") == "###":
            continue
        poly = Polygon(g["points"])
        if poly.area < 1:
            continue
        d = poly.area * (1 - ratio ** 2) / poly.length
        off = pyclipper.PyclipperOffset()
        off.AddPath([[int(x), int(y)] for x, y in g["points"]], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
        shrunk = off.Execute(-d)
        if shrunk:
            cv2.fillPoly(m, [np.array(shrunk[0], np.int32)], 1.0)
    return m


def bce_dice_loss(pred, target, F):
    """BCE + dice on a probability map: the few text pixels weigh as much as the background."""
    import paddle

    bce = F.binary_cross_entropy(paddle.clip(pred, 1e-6, 1 - 1e-6), target)
    inter = (pred * target).sum()
    dice = 1 - 2 * inter / (pred.sum() + target.sum() + 1e-6)
    return bce + dice


def distill_loss(pred, target, F):
    """BCE + dice on the probability map; when both networks have a threshold
    head (a trained checkpoint), plus L1 on the threshold map, as DB trains it."""
    loss = bce_dice_loss(pred[:, :1], target[:, :1], F)
    if pred.shape[1] > 1 and target.shape[1] > 1:
        loss = loss + F.l1_loss(pred[:, 1:2], target[:, 1:2])
    return loss


def db_targets(gts: list, size: int, ratio: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """DB's probability-map labels for square crops: each care quad shrunk
    (shrink_map), and a mask that leaves `###` regions out of the loss, as
    DB's MakeShrinkMap does. [N, 1, size, size] each."""
    import cv2

    maps, masks = [], []
    for gt in gts:
        maps.append(shrink_map(gt, size, size, ratio))
        m = np.ones((size, size), np.float32)
        for g in gt:
            if g.get("transcription") == "###":
                cv2.fillPoly(m, [np.asarray(g["points"], np.int32)], 0.0)
        masks.append(m)
    return np.stack(maps)[:, None], np.stack(masks)[:, None]


def masked_loss(pred, target, mask, F):
    """BCE + dice on the masked pixels."""
    import paddle

    p = paddle.clip(pred, 1e-6, 1 - 1e-6)
    bce = (F.binary_cross_entropy(p, target, reduction="none") * mask).sum() / (mask.sum() + 1e-6)
    inter = (pred * target * mask).sum()
    dice = 1 - 2 * inter / ((pred * mask).sum() + (target * mask).sum() + 1e-6)
    return bce + dice


class Batches:
    """What step `step` feeds the student, from the seed and the step alone:
    the input crops, the teacher's maps on them and, with labels, DB's
    targets and masks (numpy). Picklable when `teacher` (a zero-argument
    callable giving the network) and `sample` are, so a worker can make the
    next batches while the student trains on this one."""

    def __init__(self, teacher, sample, batch_size: int, with_labels: bool, all_maps: bool,
                 world: int = 1, rank: int = 0, features: bool = False):
        self.teacher, self.sample, self.batch_size = teacher, sample, batch_size
        self.with_labels, self.all_maps, self.world, self.rank = with_labels, all_maps, world, rank
        self.features = features

    def batch(self, step: int) -> dict:
        import paddle

        rng = np.random.RandomState(SEED + step)
        drawn = [self.sample(rng, self.with_labels) for _ in range(self.batch_size)][self.rank::self.world]
        x = to_input(np.stack([d[0] for d in drawn]))
        out = {"x": x}
        if len(drawn[0]) > 2:  # the sample carries the target map (the teacher seen larger, DetPool.maps)
            out["t"] = np.stack([d[2] for d in drawn])[:, None]
            if not self.features:
                return self._labels(out, drawn)
        net = self.teacher()
        head = getattr(net, "head", None)
        if self.all_maps:
            head.all_maps = True
        try:
            with paddle.no_grad():
                if self.features:
                    f = net.neck(net.backbone(paddle.to_tensor(x)))
                    t, f = net.head(f).numpy(), paddle.nn.functional.avg_pool2d(f, HINT_POOL).numpy()
                else:
                    t = net(paddle.to_tensor(x)).numpy()
        finally:
            if head is not None:
                head.all_maps = False
        out.setdefault("t", t)
        if self.features:
            out["f"], out["f_energy"] = f, float(np.square(f).mean())
        return self._labels(out, drawn)

    def _labels(self, out: dict, drawn: list) -> dict:
        if self.with_labels:
            out["lab"], out["mask"] = db_targets([d[1] or [] for d in drawn], out["x"].shape[2])
        return out


class _Ahead:
    """Batches.batch(step) for the next `depth` steps, made by one spawned worker."""

    def __init__(self, batches: Batches, start: int, steps: int, depth: int = 2):
        from slim.workers import call, payload_pool

        self.ex, self.call, self.steps, self.depth = payload_pool(1, batches), call, steps, depth
        self.futs = {s: self.ex.submit(call, "batch", s) for s in range(start, min(steps, start + depth))}

    def __call__(self, step: int) -> dict:
        nxt = step + self.depth
        if nxt < self.steps and nxt not in self.futs:
            self.futs[nxt] = self.ex.submit(self.call, "batch", nxt)
        return self.futs.pop(step).result()

    def close(self) -> None:
        self.ex.shutdown(wait=True, cancel_futures=True)


_ADAPTERS = itertools.count()  # names unique in the process: dygraph refuses a repeated one


def _with_adapter(student, teacher):
    """The student and a 1x1 conv from its neck's channels to the teacher's,
    as one layer, so the optimizer and the checkpoints hold both."""
    import paddle
    import paddle.nn as nn

    class WithAdapter(nn.Layer):
        def __init__(self):
            super().__init__()
            self.student = student
            # Adam keys its moments by parameter name, and an automatic one (conv2d_0.w_0) repeats a
            # student's when the two were built in different name scopes (seen in the prune job)
            n = next(_ADAPTERS)
            self.adapter = nn.Conv2D(student.neck.out_channels, teacher.neck.out_channels, 1,
                                     weight_attr=paddle.ParamAttr(name=f"distill_hint_adapter_{n}.w_0"),
                                     bias_attr=paddle.ParamAttr(name=f"distill_hint_adapter_{n}.b_0"))

    return WithAdapter()


# The hint compares features averaged over 2x2 cells: at the neck's full
# resolution the loss alone took 1.2 s on one core (Paddle's CPU elementwise
# kernels), half a step; pooled, a step costs about 2.5 % more than without.
HINT_POOL = 2


def feature_loss(fs, ft, energy: float):
    """Squared error of the adapted student features, relative to the
    teacher's feature energy (so the weight does not depend on its scale)."""
    return ((fs - ft) ** 2).mean() / (energy + 1e-6)


def distill_online(student, teacher, sample, steps: int, batch_size: int, lr: float, ckpt_dir: Path,
                   every: int = 50, label_weight: float = 0.0, stop_after: int | None = None,
                   teacher_in_worker=None, feature_weight: float = 0.0) -> dict:
    """Train `student` in place on crops drawn by `sample(rng, with_labels)` ->
    (uint8 crop, gt or None): the float teacher's maps on each batch are the
    target (computed as the batch is drawn, so every augmentation is new
    data; a sample may carry its target as a third item, a float map cut
    from the teacher's map of the whole photo, and then the teacher runs
    only for the hint loss), plus, with `label_weight` > 0, DB's
    probability-map loss on the labels moved into the crop. The batch
    depends only on the seed and the step, so a resumed run ends where an
    uninterrupted one would.

    `teacher_in_worker`: a picklable zero-argument callable giving the
    teacher; then a worker draws the crops and runs the teacher for the next
    steps while this process trains (about half of each step's work; `sample`
    must be picklable too).

    `feature_weight` > 0 adds FitNets' hint loss on the neck's output (the
    head's input, averaged over 2x2 cells) through a 1x1 adapter trained
    alongside: a pruned neck gets a signal per channel and cell, not only
    the one-channel map."""
    import paddle
    import paddle.distributed as dist
    import paddle.nn.functional as F

    paddle.seed(SEED)
    world, rank = dist.get_world_size(), dist.get_rank()
    model = student
    features = feature_weight > 0
    if world > 1:
        if features:
            raise LiteError("finetune.feature_weight > 0 trains on one device; set it to 0 for a multi-GPU run")
        dist.init_parallel_env()
        model = paddle.DataParallel(student)
    trained = _with_adapter(student, teacher) if features else student
    opt, sched, start = resumable_adam(trained, lr, steps, ckpt_dir)
    teacher.eval()
    student.train()
    head = getattr(teacher, "head", None)
    both = head is not None and getattr(head, "with_thresh", False) and getattr(student.head, "with_thresh", False)
    both = both and getattr(sample, "maps", None) is None  # precomputed targets hold the probability map only
    with_labels = label_weight > 0
    ahead = None
    if teacher_in_worker is not None and world == 1 and start < steps:
        ahead = _Ahead(Batches(teacher_in_worker, sample, batch_size, with_labels, both, features=features),
                       start, steps)
    local = Batches(lambda: teacher, sample, batch_size, with_labels, both, world, rank, features)

    def loss_at(step):
        b = ahead(step) if ahead else local.batch(step)
        x = paddle.to_tensor(b["x"])
        if features:
            fs = student.neck(student.backbone(x))
            pred = student.head(fs)
        else:
            pred = model(x)
        t = paddle.to_tensor(b["t"])
        loss = distill_loss(pred, t, F) if both else bce_dice_loss(pred[:, :1], t[:, :1], F)
        if features:
            hint = trained.adapter(F.avg_pool2d(fs, HINT_POOL))
            loss = loss + feature_weight * feature_loss(hint, paddle.to_tensor(b["f"]), b["f_energy"])
        if with_labels:
            loss = loss + label_weight * masked_loss(pred[:, :1], paddle.to_tensor(b["lab"]),
                                                     paddle.to_tensor(b["mask"]), F)
        return loss

    try:
        losses = train_steps(trained, opt, sched, start, steps, ckpt_dir, every, loss_at, save=rank == 0,
                             stop_after=stop_after)
    finally:
        if ahead:
            ahead.close()
    student.eval()
    return {"steps": steps, "resumed_from": start, "loss": float(np.mean(losses[-20:])) if losses else None}
