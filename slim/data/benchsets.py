"""The real sets `slim bench` runs the default jobs on, from the project's
shared data folder (`OCRSLIM_SHARED`, default ../shared): ICDAR 2015
training photos to calibrate and fine-tune on, and test sets to gate on,
never the other way round. A user's own job takes its data from --images,
--calib and --data instead; nothing else reads this folder."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lite.atomic import write_bytes
from lite.errors import LiteError
from lite.paths import home, shared_dir

DET_TRAIN = "icdar2015_train"        # 500 photos with quads: calibration, scan, fine-tune (never scored)
DET_TEST = "icdar2015_test"          # 500 photos, 2,077 care boxes: the det gate
REC_TEST = ("ic15_words_test", "iiit5k_test", "svt_test")   # 2,077 + 1,000 + 647 word crops
CLS_WORDS_PER_SET = 200              # cls gate: this many words of each rec test set, each at 0 and 180 degrees


@dataclass
class BenchData:
    data: list = field(default_factory=list)   # gate sets
    images: str | None = None                  # det photos
    calib: str | None = None                   # rec / cls crops (here: cut from the training photos)
    metric: str | None = None                  # the sets' own protocol, whatever the recipe's gate metric


def _root() -> Path:
    d = shared_dir() / "data"
    if not (d / DET_TEST).is_dir():
        raise LiteError(f"{d}: the real benchmark sets are not here; `slim bench` measures on them (set "
                        "OCRSLIM_SHARED to the shared folder), or run the job itself with --data/--images/--calib")
    return d


# per model family: the gate sets and what the job learns from, under the data folder
SETS = {
    "det": lambda d: BenchData([str(d / DET_TEST)], images=str(d / DET_TRAIN)),
    # IC15 / IIIT5K / SVT are scored as they are published: letters and digits, case ignored
    "rec": lambda d: BenchData([str(d / s) for s in REC_TEST], calib=str(d / DET_TRAIN), metric="accuracy_alnum"),
    "cls": lambda d: BenchData([str(cls_gate_words(d))], calib=str(d / DET_TRAIN)),
}


def for_family(family: str) -> BenchData:
    if family not in SETS:
        raise LiteError(f"no benchmark sets for {family!r}; there are sets for {', '.join(SETS)}")
    return SETS[family](_root())


def cls_gate_words(d: Path | None = None, per_set: int = CLS_WORDS_PER_SET) -> Path:
    """A rec label file of `per_set` words spread evenly over each rec test
    set (the cls gate scores each upright and turned by 180 degrees), written
    into the cache so the job reads it like any user's label file."""
    d = d or _root()
    lines = []
    for name in REC_TEST:
        rows = [ln for ln in (d / name / "rec_gt.txt").read_text(encoding="utf-8").splitlines() if "\t" in ln]
        step = len(rows) / per_set
        lines += [f"{d / name / rows[int(i * step)].split(chr(9))[0]}\t{rows[int(i * step)].split(chr(9), 1)[1]}"
                  for i in range(min(per_set, len(rows)))]
    out = home() / "bench" / f"cls_gate_{per_set}x{len(REC_TEST)}" / "rec_gt.txt"
    body = ("\n".join(lines) + "\n").encode()
    if not out.is_file() or out.read_bytes() != body:
        write_bytes(out, body)
    return out.parent


def seed_official_nb() -> None:
    """The official slim .nb files from the shared folder into the cache (sha256-checked), where
    a report looks for them before it tries their official URL."""
    from slim.families.zoo import OFFICIAL_SLIM_NB, official_slim_nb

    for stage, (name, _) in OFFICIAL_SLIM_NB.items():
        local = shared_dir() / "models" / "official_slim_nb" / name
        if local.is_file():
            official_slim_nb(stage, local)
