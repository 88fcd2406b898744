"""Runtimes as targets behind one small interface.

`get_target("x86")`, `get_target("arm64-emu", cpu="cortex-a76")`, ... Each
target module registers a factory for its names; boards over ssh and
phones over adb (targets/remote.py) plug in the same way.
"""
from __future__ import annotations

from . import emu as _emu  # noqa: F401  (registers arm64-emu, armv7-emu)
from . import remote as _remote  # noqa: F401  (registers ssh://... and adb[:SERIAL])
from . import x86 as _x86  # noqa: F401  (registers x86)
from .base import (Session, Target, emulation_options, get_target, is_emulated, register, target_for,  # noqa: F401
                   target_names)
