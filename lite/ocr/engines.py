"""Backends for the OCR system: `.nb` files on a Lite target, or Paddle
Inference on the inference models (the float reference). Each maps a
stage's input tensor to its first output; nothing else differs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import LiteError
from ..targets import emulation_options, get_target


class NbEngines:
    """One loaded session per stage on `target`, opened on first use. With
    `count` on an emulated target every run reports its ARM instructions."""

    def __init__(self, nbs: dict[str, str | Path], target: str = "arm64-emu", cpu: str = "generic",
                 count: bool = False, threads: int = 1):
        opts = emulation_options(target, cpu=cpu, count=count)
        self.target = get_target(target, threads=threads, **opts)
        self.nbs = {k: str(v) for k, v in nbs.items()}
        self.sessions: dict = {}

    def _session(self, stage: str):
        if stage not in self.sessions:
            self.sessions[stage] = self.target.load(self.nbs[stage])
        return self.sessions[stage]

    def run(self, stage: str, x: np.ndarray) -> tuple[np.ndarray, int | None]:
        s = self._session(stage)
        out = next(iter(s.run(x).values()))
        return out, s.last_run_instructions()

    def describe(self) -> dict:
        return self.target.describe()

    def close(self) -> None:
        for s in self.sessions.values():
            s.close()
        self.sessions.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class InferenceEngines:
    """Paddle Inference predictors (IR optimisation on, one thread), imported
    here and never beside paddlelite: the `.nb` runners are subprocesses."""

    def __init__(self, dirs: dict[str, str | Path], ir_optim: bool = True):
        from ..parity import create_predictor

        self.predictors = {stage: create_predictor(str(d), ir_optim) for stage, d in dirs.items()}

    def run(self, stage: str, x: np.ndarray) -> tuple[np.ndarray, None]:
        if stage not in self.predictors:
            raise LiteError(f"no {stage} inference model in this bundle")
        pred = self.predictors[stage]
        h = pred.get_input_handle(pred.get_input_names()[0])
        h.reshape(list(x.shape))
        h.copy_from_cpu(np.ascontiguousarray(x, np.float32))
        pred.run()
        return pred.get_output_handle(pred.get_output_names()[0]).copy_to_cpu(), None

    def describe(self) -> dict:
        return {"target": "paddle-inference", "threads": 1}

    def close(self) -> None:
        self.predictors.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
