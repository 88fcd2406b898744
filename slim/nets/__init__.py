"""Trainable (dygraph) versions of PaddleOCR networks, with PaddleOCR's
parameter names so official `.pdparams` checkpoints load as they are."""
