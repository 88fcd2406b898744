"""OCR pre/post-processing and metrics that evaluating a `.nb` needs."""
