"""What every quantization method shares: the `Candidate` record it produces,
the `QuantContext` a quant job hands it, and the registry the job's strategy
(`quant.strategy` in the recipe) is read from. A method is one class:

    @register_method
    class MyMethod(Method):
        name = "my_method"               # its name in `quant.strategy`
        def run(self, ctx) -> Candidate | None: ...

`run` appends every candidate it builds to `ctx.tried` and returns the first
one the ARM gate passed (`ctx.gate.check`), or None; the job then tries the
next method in the strategy."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from slim.workers import log


@dataclass
class Candidate:
    """One quantized model the job built: how, its `.nb`, and its scores."""
    algo: str                          # what the report calls it: "abs_max", "avg (4 float)", "qat+labels (4 float)"
    status: str                        # "ok", or why it is no candidate ("failed: ...", "no int8 kernels in the .nb")
    method: str = ""                   # the Method.name that built it (ptq, mixed, qat, weight_only); "" if it failed
    accuracy_inference: float | None = None  # Paddle Inference, on the selection set
    int8_ops: int = 0
    nb_bytes_arm: int | None = None
    dir: str = ""                      # its inference model
    nb: str = ""                       # its ARM .nb
    float_layers: list = field(default_factory=list)
    accuracy_nb_arm: float | None = None     # the ARM gate's figure, once measured
    extra: dict = field(default_factory=dict)  # method facts for the report (qat settings, weight-only rounding)
    sensitivity: dict | None = None    # mixed: the per-layer scan that ordered its float layers
    frozen: str = ""                   # ptq: PaddleSlim's own output, before prepare (the scan cuts layers from it)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict:
        """The report's record of it (paths and the scan left out)."""
        if not self.method:
            return {"algo": self.algo, "status": self.status,
                    **({"nb_bytes_arm": self.nb_bytes_arm} if self.nb_bytes_arm is not None else {})}
        out = {"algo": self.algo, "status": self.status, "method": self.method,
               "accuracy_inference": self.accuracy_inference, "int8_ops": self.int8_ops,
               "nb_bytes_arm": self.nb_bytes_arm, "float_layers": list(self.float_layers), **self.extra}
        if self.accuracy_nb_arm is not None:
            out["accuracy_nb_arm"] = self.accuracy_nb_arm
        return out


@dataclass
class QuantContext:
    """What a method may use: the job's recipe, family, models and data, the
    gate, and what earlier methods tried."""
    recipe: object
    family: object
    source: Path                       # the float model to quantize (folded, equalized)
    float_source: Path                 # before equalization (weight-only keeps float activations)
    work: Path
    calib: object                      # calibration arrays
    select: object                     # the labelled set that ranks candidates (Paddle Inference)
    base_acc: float                    # the float model on `select`
    gate: object                       # jobs/gate.py: check(candidate) on the ARM .nb
    float_nb_bytes: object             # () -> bytes of the float ARM .nb (ready once the baseline is)
    name: str = ""                     # the model's, for messages
    source_acc: float | None = None    # a pruned source on `select` (None: the source is the float model)
    tried: list = field(default_factory=list)   # every Candidate built, in order
    ptq_ranked: list = field(default_factory=list)  # PTQ's ok candidates, best first (mixed starts from them)

    def in_reach(self, acc: float) -> bool:
        """Within the budget plus `gate.prescreen_points` of the float model on `select`."""
        g = self.recipe.gate
        return self.base_acc - acc <= (g.max_drop_points + g.prescreen_points) / 100.0 + 1e-12

    @property
    def source_past_budget(self) -> bool:
        """A pruned source alone is out of reach: no method quantizing it can keep the budget."""
        return self.source_acc is not None and not self.in_reach(self.source_acc)

    def within_reach(self, acc: float) -> bool:
        """Paddle Inference already puts a candidate this far over budget: it
        is not compiled-and-measured on ARM (the .nb agrees with Paddle Inference)."""
        ok = self.in_reach(acc)
        if not ok:
            log(f"    not gated on ARM: {100 * (self.base_acc - acc):.2f} points down on Paddle Inference")
        return ok

    def report_inference(self, cand: Candidate) -> None:
        log(f"  {cand.algo}: {self.family.metric} {cand.accuracy_inference:.4f} "
            f"(drop {100 * (self.base_acc - cand.accuracy_inference):+.2f} points, Paddle Inference)")


class Method:
    name = ""

    def after_failure(self, recipe) -> str:
        """The line logged when it runs because the methods before it found nothing."""
        return f"{self.name}: the methods before it found no candidate within the budget"

    def enabled(self, recipe) -> bool:
        return True

    def run(self, ctx: QuantContext) -> Candidate | None:
        raise NotImplementedError


METHODS: dict[str, type] = {}


def register_method(cls):
    METHODS[cls.name] = cls
    return cls
