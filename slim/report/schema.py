"""report.json as typed records, written and read here only. Every quant and
prune report names its `kind` and model family (`task`), its eval sets, and
one record per side (the float baseline, the slim model) with the fields
every job writes; what a job adds beyond them stays in `extra`, as written.
`slim bench`, `slim bundle` and the CLI read reports through `load`."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from lite.errors import LiteError


def _split(cls, d: dict):
    """`cls` from the keys it names (a KeyError for a required one missing), the rest into `extra`."""
    names = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
    kwargs = {}
    for n, f in names.items():
        if n in d:
            kwargs[n] = d[n]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise KeyError(n)
    return cls(**kwargs, extra={k: v for k, v in d.items() if k not in names})


def _join(rec) -> dict:
    out = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec) if f.name != "extra"}
    return {**out, **rec.extra}


@dataclass
class EvalSet:
    """The labelled sets a job scored, and the gate set among them."""
    name: str
    size: int
    parts: dict                    # set name -> items
    gate_set: str
    gate_size: int                 # items the gate scored on the ARM .nb (quant) or in full (prune)
    synthetic: list = field(default_factory=list)   # sets the toolchain generated: never proof on real images
    secondary: list = field(default_factory=list)   # rows reported beside the gate, not gating
    limit_side_len: int = 0        # det: long side of the eval images (0: not a det report)
    extra: dict = field(default_factory=dict)

    @property
    def real(self) -> bool:
        return self.gate_set not in self.synthetic


@dataclass
class Side:
    """One model of the comparison: its gate figure and its cost."""
    metric_value: float
    nb_bytes_arm: int
    instructions_per_run: int
    measured_on: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Report:
    kind: str                      # the job: quant or prune
    task: str                      # the model family: cls, det, rec
    model: str
    metric: str
    eval_set: EvalSet
    baseline: Side
    slim: Side
    ratios: dict                   # slim / float: nb_bytes, instructions (and flops, latency_x86 for prune)
    passed: bool
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def family_kind(self) -> str:
        """FAMILY-JOB, the key of its acceptance targets: det-prune, rec-quant, ..."""
        return f"{self.task}-{self.kind}"

    @classmethod
    def from_json(cls, d: dict) -> "Report":
        d = dict(d, eval_set=_split(EvalSet, d["eval_set"]), baseline=_split(Side, d["baseline"]),
                 slim=_split(Side, d["slim"]))
        return _split(cls, d)

    def to_json(self) -> dict:
        out = _join(self)
        out.update(eval_set=_join(self.eval_set), baseline=_join(self.baseline), slim=_join(self.slim))
        return out


def write(stage: Path, report: dict, markdown) -> Report:
    """report.json (checked to be a whole report) and report.md (`markdown(report)`) into `stage`."""
    rep = Report.from_json(report)
    (stage / "report.json").write_text(json.dumps(rep.to_json(), indent=2))
    (stage / "report.md").write_text(markdown(report))
    return rep


def load(path: str | Path, what: str = "", rerun: str = "rerun the job") -> Report:
    """A report.json, typed; one-line errors for a missing file, bad JSON, or another version's report."""
    f = Path(path)
    if not f.is_file():
        raise LiteError(f"{f}: no such report; {what or 'run the job that writes it first'}")
    try:
        d = json.loads(f.read_text())
    except ValueError as e:
        raise LiteError(f"{f}: not a JSON report ({e}); pass the report.json a slim job wrote") from None
    return parse(d, f, rerun)


def parse(d: dict, where, rerun: str = "rerun the job") -> Report:
    try:
        return Report.from_json(d)
    except KeyError as e:
        raise LiteError(f"{where}: the report has no {e.args[0]!r}; it was written by another version, "
                        f"{rerun}") from None
    except (TypeError, AttributeError) as e:
        raise LiteError(f"{where}: not a slim job's report ({e}); {rerun}") from None
