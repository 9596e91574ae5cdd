"""The runs root (``$HQCTF_RUNS``, else ``./runs``) is read at call time: new run folders and ``latest`` use it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hqctf_qiskit.cli.main import main
from hqctf_qiskit.errors import RunFolderError
from hqctf_qiskit.training.runs import latest_run, runs_root

TRAIN = ["train", "--max-steps", "1", "--patch-size", "32", "--batch-size", "2", "--samples-per-epoch", "2",
         "--epochs", "1", "--device", "cpu", "--qpg-layers", "none"]


def make_run(folder: Path, age_seconds: float = 0.0) -> Path:
    folder.mkdir(parents=True)
    config = folder / "config.yaml"
    config.write_text("seed: 0\n")
    stamp = config.stat().st_mtime - age_seconds
    os.utime(config, (stamp, stamp))
    return folder


def test_runs_root_follows_the_environment_and_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("HQCTF_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runs_root() == Path("runs")
    older = make_run(tmp_path / "runs" / "a", age_seconds=60)
    newer = make_run(tmp_path / "runs" / "b")
    assert latest_run().resolve() == newer.resolve() and older != newer

    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("HQCTF_RUNS", str(elsewhere))  # set after import: still honoured
    assert runs_root() == elsewhere
    with pytest.raises(RunFolderError, match="elsewhere: no run folders found"):
        latest_run()
    assert latest_run(tmp_path / "runs").resolve() == newer.resolve()


def test_train_without_out_creates_the_run_under_hqctf_runs_and_latest_finds_it(tmp_path, tiny_phantom,
                                                                               monkeypatch, capsys):
    monkeypatch.setenv("HQCTF_RUNS", str(tmp_path / "my-runs"))
    monkeypatch.chdir(tmp_path)
    main([*TRAIN, "--data", str(tiny_phantom), "--seed", "4"])
    runs = list((tmp_path / "my-runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("unet-resnet18-classical-s4-")
    assert not (tmp_path / "runs").exists()
    capsys.readouterr()
    main(["export", "latest", str(tmp_path / "exported")])
    assert f"to {tmp_path / 'exported'}" in capsys.readouterr().out
    assert (tmp_path / "exported" / "model.json").is_file()


def test_two_default_run_folders_in_the_same_second_are_two_folders(tmp_path, monkeypatch):
    from hqctf_qiskit.config import TrainConfig
    from hqctf_qiskit.training.runs import default_run_dir

    monkeypatch.setenv("HQCTF_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr("time.strftime", lambda *args: "20260101-000000")  # the same second for both
    config = TrainConfig.from_flat({"seed": 4}, source="test")
    first, second = default_run_dir(config), default_run_dir(config)
    assert first != second and first.is_dir() and second.is_dir()  # created exclusively: each name has one owner
    assert second.name == first.name + "-1"
