"""Compression of PaddleOCR models (pruning, quantization), built on `lite`."""
