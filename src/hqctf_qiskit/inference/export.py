"""``hqctf export``: a run's QPG layers materialized into a plain smp model (model.pt + model.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write, atomic_write_json
from .model import EXPORT_META, EXPORT_WEIGHTS, export_metadata


def export_run(run_dir: Path, out_dir: Path, checkpoint: str = "best") -> dict[str, Any]:
    """Export a run's ``checkpoint`` into an empty ``out_dir``; the metadata says which checkpoint file it was."""
    from ..training.runs import check_checkpoint_name

    check_checkpoint_name(checkpoint)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: already exists and is not empty; choose another OUT_DIR")
    from ..weightgen.export import export_plain  # torch only; rebuilding a QPG run's model below needs qiskit
    from ..training.runs import load_run_checkpoint

    model, config, used = load_run_checkpoint(Path(run_dir), checkpoint=checkpoint)
    plain = export_plain(model).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / EXPORT_WEIGHTS, lambda handle: torch.save(plain.state_dict(), handle))
    meta = export_metadata(config)
    # "checkpoint" is the file actually exported (best falls back to final, then latest: see runs.find_checkpoint)
    meta.update({"source_run": str(run_dir), "checkpoint": used.name, "checkpoint_requested": checkpoint,
                 "checkpoint_epoch": used.epoch, "parameters": sum(p.numel() for p in plain.parameters())})
    atomic_write_json(out_dir / EXPORT_META, meta)
    return {**meta, "checkpoint_description": used.describe()}
