"""Run folders: what a run writes, how it is created without clobbering, and how its model is reloaded."""

from __future__ import annotations

import os
import time
from pathlib import Path

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
    """Where a new run goes: ``--out`` when given, else a fresh name under :func:`runs_root`."""
    return Path(config.optim.out) if config.optim.out else default_run_dir(config)


def default_run_dir(config: TrainConfig) -> Path:
    """``<runs root>/<arch>-<encoder>-<method>-s<seed>-<time>``, with ``-1``, ``-2`` ... until the name is free."""
    method = f"qpg-{config.weights.mapping}" if config.weights.has_qpg else "classical"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    model, seed = config.model, config.optim.seed
    base = runs_root() / f"{model.arch}-{model.encoder}-{method}-s{seed}-{stamp}"
    candidate, k = base, 1
    while candidate.exists():
        candidate, k = Path(f"{base}-{k}"), k + 1
    return candidate


def create_run_dir(path: Path) -> Path:
    """A new, empty run folder. An existing non-empty folder is never reused: its contents are never overwritten."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise RunFolderError(f"--out: {path} already exists and is not empty; use --resume {path} or another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def latest_run(root: Path | None = None) -> Path:
    """The most recently written run folder (newest ``config.yaml``) under ``root`` (default :func:`runs_root`)."""
    root = runs_root() if root is None else Path(root)
    runs = [p for p in root.glob("*/config.yaml")] if root.is_dir() else []
    if not runs:
        raise RunFolderError(f"{root}: no run folders found (train one with `hqctf train`)")
    return max(runs, key=lambda p: p.stat().st_mtime).parent


def find_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """``best`` falls back to ``final`` then ``latest`` (a run stopped early may have only some of them)."""
    orders = {"best": ("best", "final", "latest"), "final": ("final", "latest"), "latest": ("latest",)}
    if which not in orders:
        raise ConfigError(f"--checkpoint: unknown value {which!r}; choose best, final or latest")
    for name in orders[which]:
        path = checkpoint_path(run_dir, name)
        if path.is_file():
            return path
    raise CheckpointError(f"{run_dir}: no checkpoint_{which}.pt (is this a run folder, and did it train?)")


def load_run_model(run_dir: Path, checkpoint: str = "best") -> tuple[nn.Module, TrainConfig]:
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    state = load_checkpoint(find_checkpoint(run_dir, checkpoint))
    # Rebuild with the exact torch engine whatever the run trained on: loading weights must not need a sampler
    # backend (or an IBM account); --weights-from is the way to run the trained circuits on a backend.
    model, _ = build_training_model(config.with_options(backend="torch", shots=None))
    model.load_state_dict(state["model"])
    return model.eval(), config
