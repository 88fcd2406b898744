"""The det sensitivity scan, and the float model's detections on the pool
photos, in worker processes (slim/workers.py).

Paddle's dygraph CPU kernels keep about one core busy: two single-threaded
fine-tunes ran side by side at the speed of one alone on both cores. So the
scan's (unit, ratio) evaluations are shared by one spawned worker per core.
Each worker traces its own copy of the float network into a PaddleSlim
pruner once, then prunes and restores it per evaluation: restoring is exact
(a test compares with a fresh copy), so a result does not depend on which
worker ran it or what it ran before. Tracing a fresh copy for every
evaluation took 3 to 6 s, as long as scoring the 32 crops."""
from __future__ import annotations

import os
from concurrent.futures import as_completed


class DetScan:
    """Picklable payload: the float network as shapes and numpy weights, the
    scored crops, and how to prune. `score(unit, ratio)`: hmean of the
    network with that one unit pruned (`unit` None: unpruned)."""

    def __init__(self, net, shape: list, method: str, crops: list, limit_side_len: int):
        self.state = {k: v.numpy() for k, v in net.state_dict().items()}
        self.with_thresh = net.head.with_thresh
        self.shape, self.method, self.crops, self.limit_side_len = list(shape), method, crops, limit_side_len
        self._net = self._pruner = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_net"] = d["_pruner"] = None
        return d

    def net(self):
        """The float network, built once per process."""
        if self._net is None:
            os.environ.setdefault("OMP_NUM_THREADS", "1")  # one worker per core
            from slim.nets.det_db import DBNet, widths_of

            self._net = DBNet(widths_of({k: v.shape for k, v in self.state.items()}), with_thresh=self.with_thresh)
            self._net.set_state_dict(self.state)
            self._net.eval()
        return self._net

    def score(self, unit: str | None, ratio: float) -> float:
        import copy

        from slim.data.det_pool import net_hmean
        from slim.methods.pruning import Pruner

        if self._pruner is None:  # a copy of its own: net() stays the float network
            self._pruner = Pruner(copy.deepcopy(self.net()), self.shape, self.method)
        plans = self._pruner.apply({unit: ratio} if unit is not None else {})
        try:
            return net_hmean(self._pruner.net, self.crops, self.limit_side_len)
        finally:
            self._pruner.restore(plans)

    def boxes(self, images: list) -> list:
        from slim.data.det_pool import detect

        return detect(self.net(), images, self.limit_side_len)

    def maps(self, images: list, scale: float) -> list:
        """The float model's maps at `scale` times the test scale, on the test grid, as uint8."""
        from slim.data.det_pool import net_maps, to_u8

        return [to_u8(m) for m in net_maps(self.net(), images, self.limit_side_len, scale=scale)]


def detect_in_workers(payload: DetScan, images: list) -> list:
    """payload.boxes(images), in workers (in_workers)."""
    return in_workers(payload, "boxes", images, desc="float detections")


def in_workers(payload: DetScan, method: str, images: list, *args, chunk: int = 8, desc: str = "") -> list:
    """payload.<method>(images, *args), shared by one worker per core in chunks of one batch,
    so the batches (and the results) are those of one process on same-sized photos."""
    from tqdm import tqdm

    from slim.workers import call, cores, payload_pool

    if cores(2) < 2:
        return getattr(payload, method)(images, *args)
    parts = [images[i:i + chunk] for i in range(0, len(images), chunk)]
    out: list = [None] * len(parts)
    with payload_pool(cores(2), payload) as ex, tqdm(total=len(images), desc=desc, unit="img", leave=False) as bar:
        futs = {ex.submit(call, method, p, *args): k for k, p in enumerate(parts)}
        for f in as_completed(futs):
            out[futs[f]] = f.result()
            bar.update(len(parts[futs[f]]))
    return [b for part in out for b in part]
