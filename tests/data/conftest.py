"""Shared fixtures for the data-layer tests: a tiny NIfTI writer and a phantom dataset built once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hqctf_qiskit.data import write_phantom_dataset


@pytest.fixture
def write_nifti(tmp_path: Path) -> Callable[..., Path]:
    """Write ``array`` with ``affine`` (identity by default) to ``tmp_path/name`` and return the path."""

    def _write(name: str, array: np.ndarray, affine: np.ndarray | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else affine), str(path))
        return path

    return _write


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default 12-case phantom, written once (about a second)."""
    out = tmp_path_factory.mktemp("phantom")
    write_phantom_dataset(out, cases=12, seed=0)
    return out

