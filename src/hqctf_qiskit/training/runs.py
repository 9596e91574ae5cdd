"""Run folders: what a run writes, how it is created without clobbering, and how its model is reloaded."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from torch import nn

from .checkpoint import checkpoint_path, load_checkpoint
from ..config.schema import ConfigError, TrainConfig, load_run_config
from .modeling import build_training_model

RUNS_ROOT = Path("runs")


def default_run_dir(config: TrainConfig) -> Path:
    method = "classical" if config.qpg_layers.strip().lower() in ("", "none") else f"qpg-{config.mapping}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = RUNS_ROOT / f"{config.arch}-{config.encoder}-{method}-s{config.seed}-{stamp}"
    candidate, k = base, 1
    while candidate.exists():
        candidate, k = Path(f"{base}-{k}"), k + 1
    return candidate


def create_run_dir(path: Path) -> Path:
    """A new, empty run folder. An existing non-empty folder is never reused: its contents are never overwritten."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"--out: {path} already exists and is not empty; use --resume {path} or another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def latest_run(root: Path = RUNS_ROOT) -> Path:
    runs = [p for p in Path(root).glob("*/config.yaml")] if Path(root).is_dir() else []
    if not runs:
        raise FileNotFoundError(f"{root}: no run folders found (train one with `hqctf train`)")
    return max(runs, key=lambda p: p.stat().st_mtime).parent


def find_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """``best`` falls back to ``final`` then ``latest`` (a run stopped early may have only some of them)."""
    order = {"best": ("best", "final", "latest"), "final": ("final", "latest"), "latest": ("latest",)}[which]
    for name in order:
        path = checkpoint_path(run_dir, name)
        if path.is_file():
            return path
    raise FileNotFoundError(f"{run_dir}: no checkpoint_{which}.pt (is this a run folder, and did it train?)")


def load_run_model(run_dir: Path, checkpoint: str = "best") -> tuple[nn.Module, TrainConfig]:
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    state = load_checkpoint(find_checkpoint(run_dir, checkpoint))
    # Rebuild with the exact torch engine whatever the run trained on: loading weights must not need a sampler
    # backend (or an IBM account); --weights-from is the way to run the trained circuits on a backend.
    model, _ = build_training_model(replace(config, backend="torch", shots=None))
    model.load_state_dict(state["model"])
    return model.eval(), config
