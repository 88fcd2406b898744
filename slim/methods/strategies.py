"""The quantization methods a recipe's `quant.strategy` may list, in the
order a quant job tries them by default; importing this registers them."""
from slim.methods import mixed, ptq_search, qat, weight_only  # noqa: F401 - each registers its method

DEFAULT_STRATEGY = ["ptq", "mixed", "qat", "weight_only"]
