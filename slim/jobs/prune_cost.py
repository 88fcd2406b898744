"""ARM instructions of a pruned candidate, for the plan (`prune.instructions_keep`).

FLOPs mislead on Paddle Lite's ARM kernels: 3x3 stride-1 convs run as
Winograd and the depthwise layers are memory-bound, so a plan made on FLOPs
cuts the cheap-to-run neck hardest and still misses the instruction target
(flops_keep 0.5 gave 0.685x instructions). Here each candidate the planner
asks about is built, exported, compiled by opt and run once on the emulated
target with instructions counted, as NetAdapt measures latency on the
device. Counts are cached in the job folder, so a rerun plans without
emulating again."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from lite.atomic import write_bytes
from lite.bench import bench
from lite.opt import opt


class InstructionCounter:
    """`counter(ratios)`: executed ARM instructions of `teacher` pruned by
    `ratios` (unit -> share of channels cut), one inference at `shape`."""

    def __init__(self, teacher, shape: list, method: str, rebuild, target: str, cpu: str, cache: Path):
        self.teacher, self.shape, self.method, self.rebuild = teacher, list(shape), method, rebuild
        self.target, self.cpu, self.cache = target, cpu, cache
        self.counts = json.loads(cache.read_text()) if cache.is_file() else {}

    def __call__(self, ratios: dict) -> int:
        key = json.dumps(sorted((u, round(r, 6)) for u, r in ratios.items()))
        if key not in self.counts:
            self.counts[key] = self._count(ratios)
            write_bytes(self.cache, json.dumps(self.counts, indent=0).encode())
        return self.counts[key]

    def _count(self, ratios: dict) -> int:
        from slim.families.model_source import export_inference
        from slim.methods.pruning import pruned_copy

        net = self.rebuild(pruned_copy(self.teacher, self.shape, self.method, ratios))
        with tempfile.TemporaryDirectory(prefix="slim-cost.") as tmp:
            d = export_inference(net, Path(tmp) / "inference", [None] + self.shape[1:])
            nb = opt(d, target="arm", out=Path(tmp) / "m.nb")
            r = bench(str(nb), target=self.target, cpu=self.cpu, warmup=0, repeats=1,
                      shapes={"x": tuple(self.shape)})
        return int(r["instructions_per_run"])
