"""End-to-end: a tiny real training run, its run folder, resume determinism, evaluate, export, predict."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from helpers import TINY_TRAIN_ARGS, hqctf_here

pytestmark = pytest.mark.slow

RUN_FILES = [
    "config.yaml", "splits.json", "metrics.csv", "checkpoint_latest.pt", "checkpoint_best.pt", "checkpoint_final.pt",
    "progress.png", "summary.json", "qpg_report.json", "augmentation.yaml",
]


def metrics_without_times(run: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    for row in rows:
        row.pop("epoch_seconds")
    return rows


def test_run_folder_has_everything(tiny_run):
    for name in RUN_FILES:
        assert (tiny_run / name).is_file(), name
    assert list((tiny_run / "tensorboard").glob("events.out.tfevents.*"))
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert config["seed"] == 3 and config["versions"]["qiskit"].startswith("2.")
    rows = list(csv.DictReader((tiny_run / "metrics.csv").open()))
    assert len(rows) == 2 and {"train_loss", "val_loss", "val_dice_kidney", "val_iou_tumor"} <= set(rows[0])
    report = json.loads((tiny_run / "qpg_report.json").read_text())
    assert report["qpg_trainable"] < report["classical_trainable"] and report["layers"]
    splits = json.loads((tiny_run / "splits.json").read_text())
    assert sum(len(v) for v in splits.values()) == 4


def test_resume_after_a_kill_reaches_the_same_metrics(tmp_path, tiny_phantom):
    args = ["--data", str(tiny_phantom), *TINY_TRAIN_ARGS[:-4], "--epochs", "3", "--seed", "5", "--qpg-layers",
            "decoder.blocks.4.*", "--patch-size", "32"]
    reference = tmp_path / "uninterrupted"
    hqctf_here("train", *args, "--out", str(reference))

    killed = tmp_path / "killed"
    kill_after_first_epoch(args, killed)
    hqctf_here("train", "--resume", str(killed))
    assert_same_run(killed, reference)


def test_resume_with_augmentation_and_a_worker_matches_an_uninterrupted_run(tmp_path, tiny_phantom):
    """Augmented items depend on (seed, epoch, position) alone: a run killed and resumed with a DataLoader worker
    draws what an uninterrupted run without workers drew."""
    args = ["--data", str(tiny_phantom), *TINY_TRAIN_ARGS[:-4], "--epochs", "3", "--seed", "5", "--qpg-layers",
            "none", "--patch-size", "32", "--augment", "default"]
    reference = tmp_path / "uninterrupted"
    hqctf_here("train", *args, "--workers", "0", "--out", str(reference))

    killed = tmp_path / "killed"
    kill_after_first_epoch([*args, "--workers", "1"], killed)
    hqctf_here("train", "--resume", str(killed))
    assert_same_run(killed, reference)
    assert (killed / "augmentation.yaml").read_text() == (reference / "augmentation.yaml").read_text()


def kill_after_first_epoch(args: list[str], run: Path) -> None:
    """Start ``hqctf train ARGS --out RUN`` and SIGKILL it once its first epoch is checkpointed."""
    process = subprocess.Popen([sys.executable, "-m", "hqctf_qiskit.cli.main", "train", *args, "--out", str(run)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (run / "metrics.csv").is_file():  # first epoch finished and checkpointed
        assert process.poll() is None and time.time() < deadline, "run ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "summary.json").exists(), "the run must have been killed before finishing"


def assert_same_run(run: Path, reference: Path) -> None:
    """Same metrics every epoch, same final validation, bit-identical final weights."""
    assert metrics_without_times(run) == metrics_without_times(reference)
    final = lambda folder: json.loads((folder / "summary.json").read_text())["final"]  # noqa: E731
    assert final(run) == final(reference)
    a = torch.load(run / "checkpoint_final.pt", weights_only=True)["model"]
    b = torch.load(reference / "checkpoint_final.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_classical_training_has_no_qpg_report(tmp_path, tiny_phantom):
    out = tmp_path / "classical"
    args = [a for a in TINY_TRAIN_ARGS]
    args[args.index("--epochs") + 1] = "1"
    hqctf_here("train", "--data", str(tiny_phantom), "--out", str(out), "--qpg-layers", "none", *args)
    assert not (out / "qpg_report.json").exists()
    assert json.loads((out / "summary.json").read_text())["qpg"] is None


def test_plots_are_throttled_but_always_cover_the_last_epoch(tmp_path, tiny_phantom, monkeypatch):
    from hqctf_qiskit.training import loop
    from hqctf_qiskit.config.schema import TrainConfig

    drawn: list[int] = []
    monkeypatch.setattr(loop, "PLOT_INTERVAL_S", 1e9)  # only the first epoch and the end may draw
    monkeypatch.setattr(loop, "plot_progress", lambda history, *args: drawn.append(len(history)))
    config = TrainConfig.from_flat({"data": str(tiny_phantom), "out": str(tmp_path / "r"), "patch_size": 64,
                                    "batch_size": 4, "samples_per_epoch": 8, "epochs": 3, "reps": 1,
                                    "device": "cpu", "seed": 3}, source="test")
    summary = loop.train(config)
    assert drawn == [1, 3]
    assert (tmp_path / "r" / "rank.png").is_file()
    # best (epoch 1 at least) and final are whole checkpoints, final equal to latest
    final = torch.load(tmp_path / "r" / "checkpoint_final.pt", weights_only=True)
    latest = torch.load(tmp_path / "r" / "checkpoint_latest.pt", weights_only=True)
    assert final["step"] == latest["step"] == summary["steps"]
    assert torch.load(tmp_path / "r" / "checkpoint_best.pt", weights_only=True)["epoch"] >= 1

