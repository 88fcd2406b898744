"""Fine-tune a pruned detector by distillation from the unpruned one: the
teacher's probability map is the target (BCE plus dice, so the few text
pixels weigh as much as the background), on unlabeled images; optionally
mixed with the DB probability-map loss on synthetic labels.

Checkpoints (weights, optimizer, step) are written every N steps with an
atomic rename; a rerun picks up the latest and continues, and the batch
order depends only on the seed and the step, so a resumed run ends where an
uninterrupted one would.

Multi-GPU: the same function under `python -m paddle.distributed.launch`;
the student is wrapped in paddle.DataParallel when the world size is > 1
and every rank draws its own slice of each batch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lite.ocr.det import MEAN, STD

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


def _loss(pred, target, F):
    import paddle

    bce = F.binary_cross_entropy(paddle.clip(pred, 1e-6, 1 - 1e-6), target)
    inter = (pred * target).sum()
    dice = 1 - 2 * inter / (pred.sum() + target.sum() + 1e-6)
    return bce + dice


def distill_loss(pred, target, F):
    """BCE + dice on the probability map; when both networks have a threshold
    head (a trained checkpoint), plus L1 on the threshold map, as DB trains it."""
    loss = _loss(pred[:, :1], target[:, :1], F)
    if pred.shape[1] > 1 and target.shape[1] > 1:
        loss = loss + F.l1_loss(pred[:, 1:2], target[:, 1:2])
    return loss


def teacher_maps(teacher, images: np.ndarray, batch: int = 16) -> np.ndarray:
    """The teacher's probability maps, and its threshold and binary maps when it has that head."""
    import paddle

    teacher.eval()
    head = getattr(teacher, "head", None)
    if head is not None and getattr(head, "with_thresh", False):
        head.all_maps = True
    out = []
    try:
        with paddle.no_grad():
            for i in range(0, len(images), batch):
                out.append(teacher(paddle.to_tensor(to_input(images[i:i + batch]))).numpy().astype(np.float16))
    finally:
        if head is not None:
            head.all_maps = False
    return np.concatenate(out)


def latest_checkpoint(ckpt_dir: Path) -> tuple[int, Path | None]:
    state = ckpt_dir / "state.json"
    if not state.is_file():
        return 0, None
    s = json.loads(state.read_text())
    return int(s["step"]), ckpt_dir / s["file"]


def _opt_state(student, state: dict, to_keys: bool) -> dict:
    """Optimizer accumulators are named after static parameter names
    (`conv2d_56.w_0_moment1_0`), which depend on how many layers the process
    built before; checkpoints hold them under the network's own keys instead."""
    pairs = [(p.name, k) for k, p in student.named_parameters()]
    if not to_keys:
        pairs = [(f"@{k}@", n) for n, k in pairs]
    pairs.sort(key=lambda x: -len(x[0]))  # conv2d_1.w_0 must not match conv2d_12.w_0's accumulators
    out = {}
    for name, v in state.items():
        for a, b in pairs:
            if name.startswith(a + "_") or name == a:
                name = (f"@{b}@" if to_keys else b) + name[len(a):]
                break
        out[name] = v
    return out


def _save(student, opt, step: int, ckpt_dir: Path) -> None:
    import paddle

    ckpt_dir.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:06d}"
    for suffix, obj in ((".pdparams", student.state_dict()),
                        (".pdopt", _opt_state(student, opt.state_dict(), True))):
        tmp = ckpt_dir / f".{name}{suffix}.tmp"
        paddle.save(obj, str(tmp))
        os.replace(tmp, ckpt_dir / f"{name}{suffix}")
    tmp = ckpt_dir / ".state.json.tmp"
    tmp.write_text(json.dumps({"step": step, "file": name}))
    os.replace(tmp, ckpt_dir / "state.json")  # the checkpoint counts only once this lands
    for old in ckpt_dir.glob("step_*"):
        if not old.name.startswith(name):
            old.unlink()


def distill(student, targets: np.ndarray, images: np.ndarray, steps: int, batch_size: int, lr: float,
            ckpt_dir: Path, every: int = 50, labels: np.ndarray | None = None, label_weight: float = 0.0,
            stop_after: int | None = None) -> dict:
    """Train `student` in place; returns {"steps", "resumed_from", "loss"}.
    `stop_after` ends the run early as an interruption would (after that step)."""
    import paddle
    import paddle.distributed as dist
    import paddle.nn.functional as F

    paddle.seed(SEED)
    world, rank = dist.get_world_size(), dist.get_rank()
    model = student
    if world > 1:
        dist.init_parallel_env()
        model = paddle.DataParallel(student)
    opt, sched, start = resumable_adam(student, lr, steps, ckpt_dir)
    student.train()

    def loss_at(step):
        rng = np.random.RandomState(SEED + step)  # the batch depends only on the step: resumable
        idx = rng.choice(len(images), batch_size, replace=False)[rank::world]
        x, t = images[idx], targets[idx].astype(np.float32)
        lab = labels[idx] if labels is not None else None
        if rng.rand() < 0.5:  # mirrored text is still text to a detector; doubles the pool
            x, t = x[:, :, ::-1], t[..., ::-1]
            lab = lab[..., ::-1] if lab is not None else None
        pred = model(paddle.to_tensor(to_input(np.ascontiguousarray(x))))
        loss = distill_loss(pred, paddle.to_tensor(np.ascontiguousarray(t)), F)
        if lab is not None and label_weight > 0:
            loss = loss + label_weight * _loss(pred[:, :1], paddle.to_tensor(np.ascontiguousarray(lab)[:, None]), F)
        return loss

    losses = train_steps(student, opt, sched, start, steps, ckpt_dir, every, loss_at, save=rank == 0,
                         stop_after=stop_after)
    student.eval()
    return {"steps": steps, "resumed_from": start, "loss": float(np.mean(losses[-20:])) if losses else None}


def resumable_adam(student, lr: float, steps: int, ckpt_dir: Path):
    """(Adam over a cosine schedule, the step to start from), restored from the
    latest checkpoint when there is one; the optimizer's state carries the
    schedule's position, so nothing needs replaying."""
    import paddle

    sched = paddle.optimizer.lr.CosineAnnealingDecay(lr, T_max=max(1, steps))
    opt = paddle.optimizer.Adam(sched, parameters=student.parameters(), weight_decay=0.0)
    start, ckpt = latest_checkpoint(ckpt_dir)
    if ckpt is not None:
        student.set_state_dict(paddle.load(str(ckpt) + ".pdparams"))
        opt.set_state_dict(_opt_state(student, paddle.load(str(ckpt) + ".pdopt"), False))
    return opt, sched, start


def train_steps(student, opt, sched, start: int, steps: int, ckpt_dir: Path, every: int, loss_at,
                save: bool = True, stop_after: int | None = None) -> list[float]:
    """Steps `start`..`steps` of `loss_at(step)`, a checkpoint every `every`
    steps and at the end; `stop_after` ends early as an interruption would."""
    losses = []
    bar = tqdm(range(start, steps), desc="distillation fine-tune", unit="step", initial=start, total=steps,
               disable=not save)
    for step in bar:
        loss = loss_at(step)
        loss.backward()
        opt.step()
        opt.clear_grad()
        sched.step()
        losses.append(float(loss))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if save and ((step + 1) % every == 0 or step + 1 == steps):
            _save(student, opt, step + 1, ckpt_dir)
        if stop_after is not None and step + 1 >= stop_after:
            break
    return losses
