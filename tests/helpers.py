"""Shared test helpers (importable because pytest puts tests/ on sys.path, see pyproject)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_CT_DIR = SHARED_DATA / "totalseg-example-ct"

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
requires_real_ct = pytest.mark.skipif(not REAL_CT_DIR.is_dir(), reason=f"real CT fixture absent ({REAL_CT_DIR})")
