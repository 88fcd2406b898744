"""Where the toolchain keeps its cache, and where test data lives."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """Cache root for runtimes, built runners and downloads (`OCRSLIM_HOME`)."""
    env = os.environ.get("OCRSLIM_HOME")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ocrslim"
    base.mkdir(parents=True, exist_ok=True)
    return base


def shared_dir() -> Path:
    """The project's shared models and data (`OCRSLIM_SHARED`, default `../shared`).

    Only tests, benchmarks and the set-up script read it; nothing a user runs
    depends on it.
    """
    env = os.environ.get("OCRSLIM_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"
