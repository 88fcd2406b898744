"""Boards by name: a YAML file maps a short name to a target and its
settings, so `--target pi4` works. Looked up in `LITE_BOARDS`, then
`./boards.yaml` (project level), then `~/.config/ocrslim/boards.yaml`:

    boards:
      pi4:   {target: "ssh://pi@192.168.1.20", workdir: /tmp/ocrslim, threads: 4}
      pixel: {target: "adb:R58M12345"}
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from .errors import LiteError

KEYS = {"target", "workdir", "threads", "power_mode", "runtime_version", "timeout_s"}


def boards_file() -> Path | None:
    env = os.environ.get("LITE_BOARDS")
    if env:
        return Path(env)
    for cand in (Path.cwd() / "boards.yaml",
                 Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "ocrslim" / "boards.yaml"):
        if cand.is_file():
            return cand
    return None


def load_boards() -> dict[str, dict]:
    f = boards_file()
    if f is None:
        return {}
    if not f.is_file():
        raise LiteError(f"{f}: no such boards file (LITE_BOARDS); create it or unset LITE_BOARDS")
    try:
        data = yaml.safe_load(f.read_text()) or {}
    except yaml.YAMLError as e:
        raise LiteError(f"{f}: not valid YAML ({str(e).splitlines()[0]})") from None
    boards = data.get("boards") if isinstance(data, dict) else None
    if not isinstance(boards, dict):
        raise LiteError(f"{f}: expected a `boards:` mapping of name -> {{target: ..., ...}}")
    for name, b in boards.items():
        if not isinstance(b, dict) or not isinstance(b.get("target"), str):
            raise LiteError(f"{f}: board {name!r} needs a `target:` (ssh://user@host[:port] or adb[:SERIAL])")
        unknown = set(b) - KEYS
        if unknown:
            raise LiteError(f"{f}: board {name!r}: unknown key {sorted(unknown)[0]!r}; known: {', '.join(sorted(KEYS))}")
    return boards
