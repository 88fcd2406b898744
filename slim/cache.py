"""Job state cached in the home folder, keyed by what a result depends on:
the model's weights (not their names) and the data itself, so an interrupted
job resumes and a changed input is a new key."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from lite.paths import home


def weights_key(model_dir: Path) -> str:
    """The model's weights, whatever their names: an exported program's
    variable names depend on what the exporting process built before."""
    from slim.nets.weights import inference_params

    digests = sorted(hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() + str(a.shape)
                     for _, a in inference_params(model_dir))
    return hashlib.sha256("".join(digests).encode()).hexdigest()[:16]


def sets_digest(sets: list) -> str:
    """The eval data itself (images and labels), so a changed generator or label file is a new key."""
    h = hashlib.sha256()
    for s in sets:
        h.update(s.name.encode())
        for img, label in s:
            h.update(np.ascontiguousarray(img).tobytes())
            h.update(json.dumps(label, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def job_cache(model_dir: Path, *key) -> Path:
    """A folder for results that depend on these weights and `key`."""
    h = hashlib.sha256(weights_key(model_dir).encode())
    h.update(json.dumps(key).encode())
    d = home() / "jobs" / h.hexdigest()[:16]
    d.mkdir(parents=True, exist_ok=True)
    return d
