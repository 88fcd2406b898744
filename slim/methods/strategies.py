"""The quantization methods a recipe's `quant.strategy` may list, looked up
by name; importing this module registers them all."""
from __future__ import annotations

from lite.errors import LiteError

from slim.methods import mixed, ptq_search, qat, weight_only  # noqa: F401 - each registers its method
from slim.methods.base import METHODS, Method

DEFAULT_STRATEGY = ["ptq", "mixed", "qat", "weight_only"]


def method(name: str) -> Method:
    if name not in METHODS:
        raise LiteError(f"no quantization method {name!r}; this version has {', '.join(METHODS)}")
    return METHODS[name]()


def method_names() -> list[str]:
    """The registered methods, the default strategy's first, in its order."""
    return [m for m in DEFAULT_STRATEGY if m in METHODS] + [m for m in METHODS if m not in DEFAULT_STRATEGY]
