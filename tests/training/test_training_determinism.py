"""Deterministic algorithms are on during a CPU run and the caller's settings are back after it, whether the run
returns or raises (no process-wide flag left behind by a library call)."""

from __future__ import annotations

import pytest
import torch

from hqctf_qiskit.cli.main import main
from hqctf_qiskit.errors import DataError
from hqctf_qiskit.training import loop
from hqctf_qiskit.training.determinism import deterministic_algorithms

TRAIN = ["train", "--max-steps", "1", "--patch-size", "32", "--batch-size", "2", "--samples-per-epoch", "2",
         "--epochs", "1", "--device", "cpu", "--qpg-layers", "none"]


def flags() -> tuple[bool, bool, bool, bool]:
    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)


@pytest.fixture
def caller_flags():
    """The flags as a caller had set them (deliberately not the run's), restored after the test."""
    saved = flags()
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = True
    yield flags()
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


@pytest.fixture
def flags_during_run(monkeypatch):
    """What the flags were while the run was loading its data."""
    seen: list[tuple[bool, bool, bool, bool]] = []
    real_discover = loop.discover

    def recording_discover(config):
        seen.append(flags())
        return real_discover(config)

    monkeypatch.setattr(loop, "discover", recording_discover)
    return seen


def test_flags_are_restored_after_a_run_returns(tmp_path, tiny_phantom, caller_flags, flags_during_run):
    main([*TRAIN, "--data", str(tiny_phantom), "--out", str(tmp_path / "run")])
    assert (tmp_path / "run" / "summary.json").is_file()
    assert flags_during_run and flags_during_run[0][:2] == (True, True)
    assert flags() == caller_flags


def test_flags_are_restored_after_a_run_raises(tmp_path, monkeypatch, caller_flags, flags_during_run):
    def failing_discover(config):
        flags_during_run.append(flags())
        raise DataError("nowhere: no cases found")

    monkeypatch.setattr(loop, "discover", failing_discover)
    with pytest.raises(SystemExit) as exc:
        # --classes given: the dataset is not described before the run (that would fail outside the run)
        main([*TRAIN, "--data", str(tmp_path), "--classes", "background,kidney,tumor", "--out", str(tmp_path / "run")])
    assert exc.value.code == 2
    assert flags_during_run == [(True, True, *caller_flags[2:])]
    assert flags() == caller_flags


def test_strict_caller_settings_come_back_exactly():
    """A caller's strict mode (errors, not warnings) survives the run's warn-only mode."""
    saved = flags()
    try:
        torch.use_deterministic_algorithms(True)
        with deterministic_algorithms(True):
            assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        torch.use_deterministic_algorithms(False)
        with deterministic_algorithms(False):  # a CUDA run leaves the flags as the caller set them
            assert not torch.are_deterministic_algorithms_enabled()
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
