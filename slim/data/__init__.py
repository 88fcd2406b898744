"""Data for calibration and evaluation, through a tiny reader protocol:
any iterable of `(image_bgr_uint8, label)` pairs with a `name` plugs in."""
