"""The per-user cache of generated artefacts (the phantom dataset, the compiled CPU kernel)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$HQCTF_CACHE_DIR``, or ``~/.cache/hqctf``."""
    return Path(os.environ.get("HQCTF_CACHE_DIR", Path.home() / ".cache" / "hqctf"))
