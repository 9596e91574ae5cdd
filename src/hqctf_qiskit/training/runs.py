"""Run folders: where a new one goes, the latest one, and how a run's model is reloaded (claiming one: ownership.py)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from .checkpoint import checkpoint_path, load_checkpoint
from ..config import ConfigError, TrainConfig, load_run_config
from ..errors import CheckpointError, RunFolderError
from .modeling import build_training_model

RUNS_ENV = "HQCTF_RUNS"


def runs_root() -> Path:
    """The folder that holds run folders: ``$HQCTF_RUNS`` when set (and not empty), else ``runs`` in the current
    working directory.

    The one place this is decided. It is read at every call (not at import), so a changed environment variable or
    working directory takes effect on the next run; ``hqctf train`` without ``--out`` creates its run folder here and
    ``latest`` (``hqctf evaluate latest`` ...) looks here. ``--out`` names a run folder directly and ignores the root.
    """
    return Path(os.environ.get(RUNS_ENV) or "runs")


def new_run_dir(config: TrainConfig) -> Path:
    """Where a new run goes: ``--out`` when given, else a fresh folder under :func:`runs_root` (created here)."""
    return Path(config.optim.out) if config.optim.out else default_run_dir(config)


def default_run_dir(config: TrainConfig) -> Path:
    """A new empty folder ``<runs root>/<arch>-<encoder>-<method>-s<seed>-<time>``, with ``-1``, ``-2`` ... until
    the name is free. The folder is created exclusively, so two runs started in the same second get two folders."""
    method = config.weights.method
    stamp = time.strftime("%Y%m%d-%H%M%S")
    model, seed = config.model, config.optim.seed
    base = runs_root() / f"{model.arch}-{model.encoder}-{method}-s{seed}-{stamp}"
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, k = base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            candidate, k = Path(f"{base}-{k}"), k + 1


def latest_run(root: Path | None = None) -> Path:
    """The most recently written run folder (newest ``config.yaml``) under ``root`` (default :func:`runs_root`)."""
    root = runs_root() if root is None else Path(root)
    runs = [p for p in root.glob("*/config.yaml")] if root.is_dir() else []
    if not runs:
        raise RunFolderError(f"{root}: no run folders found (train one with `hqctf train`)")
    return max(runs, key=lambda p: p.stat().st_mtime).parent


CHECKPOINT_CHOICES = ("best", "final", "latest")
# best: the best validation so far, else the only model there is; final exists only once a run has finished, so a
# run still training (or killed) is refused rather than silently given its latest state under the name "final"
CHECKPOINT_FALLBACKS = {"best": ("best", "final", "latest"), "final": ("final",), "latest": ("latest",)}


def check_checkpoint_name(which: str) -> str:
    """``--checkpoint``'s value, checked before any work is done."""
    if which not in CHECKPOINT_CHOICES:
        raise ConfigError(f"--checkpoint: unknown value {which!r}; choose {', '.join(CHECKPOINT_CHOICES)}")
    return which


def find_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """The checkpoint file for ``--checkpoint which``: ``best`` falls back to ``final`` then ``latest`` (a run whose
    validation never scored has no best); ``final`` never falls back. The file's name says which one it is."""
    check_checkpoint_name(which)
    for name in CHECKPOINT_FALLBACKS[which]:
        path = checkpoint_path(run_dir, name)
        if path.is_file():
            return path
    if which == "final" and checkpoint_path(run_dir, "latest").is_file():
        raise CheckpointError(f"--checkpoint final: {run_dir} has no checkpoint_final.pt yet (the run has not "
                              "finished: still training, or stopped); use --checkpoint latest")
    raise CheckpointError(f"{run_dir}: no checkpoint_{which}.pt (is this a run folder, and did it train?)")


@dataclass(frozen=True)
class UsedCheckpoint:
    """Which checkpoint file a command actually loaded for ``--checkpoint requested`` (told to the user)."""

    requested: str
    path: Path
    epoch: int
    step: int

    @property
    def name(self) -> str:
        return self.path.stem.removeprefix("checkpoint_")

    def describe(self) -> str:
        """``best (epoch 4)``, or ``best (no checkpoint_best.pt: used final, epoch 4)`` after a fallback."""
        if self.name == self.requested:
            return f"{self.requested} (epoch {self.epoch})"
        return f"{self.requested} (no checkpoint_{self.requested}.pt: used {self.name}, epoch {self.epoch})"

    def to_dict(self) -> dict[str, Any]:
        return {"requested": self.requested, "used": self.name, "file": str(self.path), "epoch": self.epoch,
                "step": self.step}


def load_run_model(run_dir: Path, checkpoint: str = "best") -> tuple[nn.Module, TrainConfig]:
    model, config, _ = load_run_checkpoint(run_dir, checkpoint)
    return model, config


def load_run_checkpoint(run_dir: Path, checkpoint: str = "best") -> tuple[nn.Module, TrainConfig, UsedCheckpoint]:
    """A run's model from ``--checkpoint checkpoint``, its config, and which checkpoint file that really was."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    path = find_checkpoint(run_dir, checkpoint)
    state = load_checkpoint(path)
    # Rebuild with the exact torch engine whatever the run trained on: loading weights must not need a sampler
    # backend (or an IBM account); --weights-from is the way to run the trained circuits on a backend.
    model, _ = build_training_model(config.with_options(backend="torch", shots=None))
    model.load_state_dict(state["model"])
    used = UsedCheckpoint(checkpoint, path, int(state.get("epoch", 0)), int(state.get("step", 0)))
    return model.eval(), config, used
