"""Filter pruning with PaddleSlim's dygraph pruners: the prunable units, a
per-unit sensitivity scan (cached, so an interrupted scan resumes), a plan
that reaches a FLOPs target at the least predicted loss with channel counts
kept at multiples of 8, and applying it.

Units are PaddleSlim's pruning collections (a conv and everything whose
channels are tied to it: its BN, the depthwise conv that follows, convs
joined by a residual add). PaddleSlim names parameters by their static
names (`conv2d_0.w_0`); reports use the network's own keys
(`backbone.stage0.1.expand_conv.conv.weight`)."""
from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from lite.atomic import write_bytes
from lite.errors import LiteError

METHODS = ("fpgm", "l1")


def pruner_class(method: str):
    from paddleslim.dygraph import FPGMFilterPruner, L1NormFilterPruner

    from slim.methods.ptq import quiet_paddleslim

    quiet_paddleslim()  # after the import: the pruners' loggers exist only then
    classes = {"fpgm": FPGMFilterPruner, "l1": L1NormFilterPruner}
    if method not in classes:
        raise LiteError(f"unknown pruning method {method!r}; use {' or '.join(METHODS)}")
    return classes[method]


def flops(net, input_shape: list) -> int:
    """paddle.flops (multiply-adds of conv, BN and transposed conv layers)."""
    import contextlib
    import io

    import paddle

    was_training = net.training
    net.eval()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per layer type
            return int(paddle.flops(net, input_shape, print_detail=False))
    finally:
        if was_training:
            net.train()


def params(net) -> int:
    return int(sum(p.size for p in net.parameters()))


class Pruner:
    """The network's prunable units and PaddleSlim's pruner over them."""

    def __init__(self, net, input_shape: list, method: str = "fpgm", skip: tuple = (),
                 rebuild: Callable | None = None):
        """`rebuild(net)` -> the pruned network as it will be exported; FLOPs are
        counted on it (PaddleSlim's masked layers count differently)."""
        self.rebuild = rebuild or (lambda n: n)
        self.net, self.input_shape = net, list(input_shape)
        self.key_of = {p.name: k for k, p in net.named_parameters()}
        self.static_of = {k: n for n, k in self.key_of.items()}
        self.inner = pruner_class(method)(net, self.input_shape)
        self.channels: dict[str, int] = {}
        for c in self.inner.collections:
            key = self.key_of.get(c.master_name)
            if key is None or c.master_axis != 0 or any(key.startswith(s) for s in skip):
                continue
            if c.master_name in self.inner.skip_vars:
                continue
            self.channels[key] = int(self.param(key).shape[0])
        # convs feeding a concat: pruned by the same criterion, consumers sliced by offset
        self.concat = dict(net.concat_units()) if hasattr(net, "concat_units") else {}
        for key in self.concat:
            self.channels[key] = int(self.param(key).shape[0])
        self.units = list(self.channels)

    def param(self, key: str):
        return dict(self.net.named_parameters())[key]

    def apply(self, ratios: dict[str, float]) -> list:
        """Prune in place; returns the plans (restore() undoes them)."""
        ratios = {k: r for k, r in ratios.items() if r > 0}
        plans = [self.inner.prune_vars({self.static_of[k]: r for k, r in ratios.items() if k not in self.concat}, 0)]
        if any(k in self.concat for k in ratios):
            plans.append(self._concat_plan({k: r for k, r in ratios.items() if k in self.concat}))
        return plans

    def _concat_plan(self, ratios: dict[str, float]):
        """A PaddleSlim plan for concat members: each conv's filters ranked by the
        pruner's own criterion (cal_mask), the consumers' input channels cut to match."""
        from types import SimpleNamespace

        import numpy as np
        from paddleslim.dygraph.prune.pruning_plan import PruningMask, PruningPlan

        no_groups = SimpleNamespace(attr=lambda name: None)
        plan = PruningPlan(self.net.full_name)
        consumer_masks: dict[str, np.ndarray] = {}
        for key, r in ratios.items():
            w = self.param(key)
            coll = SimpleNamespace(master_name=w.name, master_axis=0, values={w.name: np.array(w.numpy())},
                                   all_pruning_details=lambda: [])
            mask = np.asarray(self.inner.cal_mask(r, coll), np.int32)
            plan.add(w.name, PruningMask(0, mask.tolist(), r, no_groups))
            for consumer, offset in self.concat[key]:
                cm = consumer_masks.setdefault(consumer, np.ones(self.param(consumer).shape[1], np.int32))
                cm[offset:offset + len(mask)] = mask
        for consumer, cm in consumer_masks.items():
            plan.add(self.static_of[consumer], PruningMask(1, cm.tolist(), 1 - cm.mean(), no_groups))
        plan.apply(self.net, lazy=False)
        return plan

    def restore(self, plans: list) -> None:
        for plan in reversed(plans):
            plan.restore(self.net)

    def flops_of(self, ratios: dict[str, float]) -> int:
        plan = self.apply(ratios)
        try:
            return flops(self.rebuild(self.net), self.input_shape)
        finally:
            self.restore(plan)


def pruned_copy(net, input_shape: list, method: str, ratios: dict[str, float]):
    """A deep copy of `net` cut by `ratios` through a fresh Pruner, so the
    result does not depend on what earlier pruners did to `net` (PaddleSlim's
    masked form; `rebuilt` turns it into the network that is exported)."""
    out = copy.deepcopy(net)
    if ratios:
        Pruner(out, input_shape, method).apply(ratios)
    return out


def rebuilt(net, make: Callable[[dict], object], what: str = "pruned network"):
    """A fresh network from `make(shapes)` carrying `net`'s (pruned) weights,
    without PaddleSlim's backup buffers. paddle's set_state_dict skips a
    mismatched tensor with only a warning (which once left a head's transposed
    convs randomly initialised), so every shape is checked first."""
    state = {k: v for k, v in net.state_dict().items() if "_backup" not in k}
    out = make({k: v.shape for k, v in state.items()})
    want = {k: list(v.shape) for k, v in out.state_dict().items()}
    bad = [k for k in want if k not in state or list(state[k].shape) != want[k]]
    if bad:
        raise LiteError(f"{what} does not rebuild: {bad[0]} is {list(state[bad[0]].shape) if bad[0] in state else 'missing'}, "
                        f"expected {want[bad[0]]}")
    out.set_state_dict(state)
    out.eval()
    return out


def sensitivity(pruner: Pruner, score: Callable[[], float], ratios: list[float], cache: Path,
                desc: str = "sensitivity", scan=None) -> dict[str, dict[str, float]]:
    """{unit: {ratio: metric drop}}, each unit pruned alone; every result is
    written to `cache` as it comes, and a rerun skips what is there.
    `scan(todo)`, where given, yields ((unit, ratio), metric) for those
    pairs in any order (worker processes)."""
    sens = json.loads(cache.read_text()) if cache.is_file() else {}
    todo = [(u, r) for u in pruner.units for r in ratios if f"{r:.2f}" not in sens.get(u, {})]
    if not todo:
        return {u: sens[u] for u in pruner.units}
    base = sens.get("_baseline", {}).get("value")
    if base is None:
        base = score()
        sens["_baseline"] = {"value": base}
    for (unit, r), value in tqdm((scan or _scan_in_process(pruner, score))(todo), desc=desc, unit="eval",
                                 total=len(todo)):
        sens.setdefault(unit, {})[f"{r:.2f}"] = base - value
        write_bytes(cache, json.dumps(sens, indent=1).encode())
    return {u: sens[u] for u in pruner.units}


def _scan_in_process(pruner: Pruner, score: Callable[[], float]):
    """`scan(todo)` on the pruner's own network: each unit cut, scored, restored."""
    def scan(todo):
        for unit, r in todo:
            plan = pruner.apply({unit: r})
            try:
                yield (unit, r), score()
            finally:
                pruner.restore(plan)

    return scan


def predicted_loss(curve: dict[str, float], ratio: float) -> float:
    """Piecewise-linear through (0, 0) and the measured points; flat beyond the last."""
    pts = [(0.0, 0.0)] + sorted((float(r), max(0.0, v)) for r, v in curve.items())
    for (r0, v0), (r1, v1) in zip(pts, pts[1:]):
        if ratio <= r1:
            return v0 + (v1 - v0) * (ratio - r0) / (r1 - r0) if r1 > r0 else v1
    return pts[-1][1]


def channel_options(n: int, max_ratio: float, align: int = 8) -> list[int]:
    """Channel counts a unit of `n` may keep, from n down: multiples of `align`
    (so ARM kernels stay efficient), never below align or (1 - max_ratio) n."""
    floor = max(align, math.ceil(n * (1 - max_ratio) / align) * align)
    return [n] + [c for c in range((n - 1) // align * align, floor - 1, -align) if c < n]


@dataclass
class Plan:
    keep: dict[str, int]           # unit -> channels kept
    channels: dict[str, int]       # unit -> channels before
    predicted_loss: float
    flops: int
    base_flops: int

    @property
    def ratios(self) -> dict[str, float]:
        return {u: 1 - self.keep[u] / self.channels[u] for u in self.keep if self.keep[u] < self.channels[u]}

    def to_json(self) -> dict:
        return {"flops": self.flops, "base_flops": self.base_flops, "flops_ratio": self.flops / self.base_flops,
                "predicted_drop": self.predicted_loss,
                "units": [{"unit": u, "channels": self.channels[u], "keep": self.keep[u],
                           "ratio": round(1 - self.keep[u] / self.channels[u], 4)} for u in self.channels]}


def plan_for_flops(pruner: Pruner, sens: dict, flops_keep: float, max_ratio: float = 0.8, align: int = 8,
                   measure: Callable[[dict], int] | None = None, cost: Callable[[dict], float] | None = None,
                   fits: Callable[[dict], bool] | None = None) -> Plan:
    """Greedy: repeatedly take the step (one unit down to its next allowed
    channel count) with the least predicted loss per unit of `cost` saved
    (default: FLOPs), until the pruned network's measured FLOPs are at most
    `flops_keep` of the original and `fits(ratios)` holds (an extra budget,
    such as ARM instructions)."""
    measure = measure or pruner.flops_of
    base = measure({})
    opts = {u: channel_options(n, max_ratio, align) for u, n in pruner.channels.items()}
    # cost per channel of each unit, measured once at its deepest allowed cut
    cost, cost_base = (cost, cost({})) if cost else (measure, base)
    per_channel = {}
    for u, o in opts.items():
        per_channel[u] = (cost_base - cost({u: 1 - o[-1] / pruner.channels[u]})) / max(1, o[0] - o[-1]) \
            if len(o) > 1 else 0.0

    def loss(u, i):
        return predicted_loss(sens.get(u, {}), 1 - opts[u][i] / pruner.channels[u])

    def ratios(at: dict) -> dict:
        return {v: 1 - opts[v][at[v]] / pruner.channels[v] for v in opts if at[v]}

    # The greedy order depends only on the predicted losses and per-channel costs, not on
    # measured FLOPs, and every step only removes channels, so FLOPs fall monotonically
    # along it: lay out the whole sequence, then binary-search the first state within the
    # target (log2(steps) measurements, not one per step: 185 -> 36 on det_mobile).
    seq = _greedy_sequence(opts, per_channel, loss)
    measured = {0: base}

    def at(k: int) -> int:
        if k not in measured:
            measured[k] = measure(ratios(seq[k]))
        return measured[k]

    def ok(k: int) -> bool:
        return at(k) <= flops_keep * base and (fits is None or fits(ratios(seq[k])))

    last = len(seq) - 1
    if not ok(last):
        budget = " and the instruction budget" if fits else ""
        raise LiteError(f"FLOPs target {flops_keep:.2f}x{budget} is out of reach: pruning every unit to its limit "
                        f"({max_ratio:.0%} of its channels, multiples of {align}) keeps {at(last) / base:.2f}x "
                        f"of the FLOPs; raise prune.flops_keep" + (", prune.instructions_keep" if fits else "")
                        + " or prune.max_ratio")
    lo, hi = 0, last  # ok(hi); the answer is the first such k
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    best = seq[lo]
    keep = {u: opts[u][best[u]] for u in opts}
    return Plan(keep, dict(pruner.channels), sum(loss(u, best[u]) for u in opts), at(lo), base)


def _greedy_sequence(opts: dict, per_channel: dict, loss) -> list[dict]:
    """Every state of the greedy walk: at each step the unit whose next cut
    costs the least predicted loss per unit of cost saved goes one option down."""
    idx = {u: 0 for u in opts}
    seq = [dict(idx)]
    while True:
        steps = [(u, (loss(u, idx[u] + 1) - loss(u, idx[u])) / (per_channel[u] * (opts[u][idx[u]] - opts[u][idx[u] + 1])))
                 for u in opts if idx[u] + 1 < len(opts[u]) and per_channel[u] > 0]
        if not steps:
            return seq
        u = min(steps, key=lambda s: (s[1], s[0]))[0]
        idx[u] += 1
        seq.append(dict(idx))
