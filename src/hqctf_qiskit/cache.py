"""The per-user cache of generated artefacts (the phantom dataset, the compiled CPU kernels)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "HQCTF_CACHE_DIR"


def cache_dir() -> Path:
    """``$HQCTF_CACHE_DIR`` when set (and not empty), else ``~/.cache/hqctf``; read at every call, not at import."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "hqctf"
