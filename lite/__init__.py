"""Paddle Lite deployment: `.nb` conversion, runtimes as targets, benchmarks.

The Python API mirrors the `lite` CLI verbs:
    opt(model, target="arm") -> Path     info(nb) -> NbInfo
    run(nb, inputs, target) -> outputs   bench(nb, target) -> dict
    parity(nb, model_dir, target) -> dict
`lite` never imports `slim`.
"""
from .errors import LiteError  # noqa: F401


def opt(*a, **k):
    from .opt import opt as _opt
    return _opt(*a, **k)


def info(nb):
    from .nbfile import read_nb
    return read_nb(nb)


def run(nb, inputs, target="x86", **options):
    from .targets import get_target
    with get_target(target, **options).load(nb) as s:
        return s.run(inputs)


def bench(*a, **k):
    from .bench import bench as _bench
    return _bench(*a, **k)


def parity(*a, **k):
    from .parity import parity as _parity
    return _parity(*a, **k)
