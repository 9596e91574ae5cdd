"""Fixtures shared across test folders: a tiny phantom dataset and a tiny trained run (built once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hqctf_qiskit.data import write_phantom_dataset

from helpers import TINY_TRAIN_ARGS


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Never write the phantom cache into the user's home from tests."""
    os.environ["HQCTF_CACHE_DIR"] = str(tmp_path_factory.mktemp("hqctf-cache"))


@pytest.fixture(scope="session")
def tiny_phantom(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("phantom") / "data"
    write_phantom_dataset(root, cases=4, seed=1, shape=(48, 48, 12))
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_phantom) -> Path:
    from hqctf_qiskit.cli.main import main

    out = tmp_path_factory.mktemp("runs") / "tiny"
    try:
        main(["train", "--data", str(tiny_phantom), "--out", str(out), *TINY_TRAIN_ARGS])
    except SystemExit as exc:  # click's standalone handling is off, but be safe
        assert exc.code in (0, None)
    return out
