"""Resumable fine-tuning for any network: Adam over a cosine schedule, with
checkpoints (weights, optimizer, step) written by atomic rename every N
steps; a rerun resumes from the latest one. Used by the det distillation
(slim/methods/det_distill.py), the rec prune fine-tune and QAT (constant
learning rate)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm


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


def resumable_adam(student, lr: float, steps: int, ckpt_dir: Path, cosine: bool = True):
    """(Adam over a cosine schedule, or at a constant `lr` (then the schedule
    is None), the step to start from), restored from the latest checkpoint
    when there is one; the optimizer's state carries the schedule's
    position, so nothing needs replaying."""
    import paddle

    sched = paddle.optimizer.lr.CosineAnnealingDecay(lr, T_max=max(1, steps)) if cosine else None
    opt = paddle.optimizer.Adam(sched if cosine else lr, parameters=student.parameters(), weight_decay=0.0)
    start, ckpt = latest_checkpoint(ckpt_dir)
    if ckpt is not None:
        student.set_state_dict(paddle.load(str(ckpt) + ".pdparams"))
        opt.set_state_dict(_opt_state(student, paddle.load(str(ckpt) + ".pdopt"), False))
    return opt, sched, start


def train_steps(student, opt, sched, start: int, steps: int, ckpt_dir: Path, every: int, loss_at,
                save: bool = True, stop_after: int | None = None, desc: str = "distillation fine-tune") -> list[float]:
    """Steps `start`..`steps` of `loss_at(step)`, a checkpoint every `every`
    steps and at the end; `stop_after` ends early as an interruption would."""
    losses = []
    bar = tqdm(range(start, steps), desc=desc, unit="step", initial=start, total=steps, disable=not save)
    for step in bar:
        loss = loss_at(step)
        loss.backward()
        opt.step()
        opt.clear_grad()
        if sched is not None:
            sched.step()
        losses.append(float(loss))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if save and ((step + 1) % every == 0 or step + 1 == steps):
            _save(student, opt, step + 1, ckpt_dir)
        if stop_after is not None and step + 1 >= stop_after:
            break
    return losses
