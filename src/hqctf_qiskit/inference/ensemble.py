"""Ensembles of runs or exports (the folds of a cross-validation): softmax probabilities averaged, then the argmax.

Each member predicts with its own preprocessing (its spacing and patch size) on the input's grid and the probabilities are
averaged there, as nnU-Net averages its folds; members must share the classes (the same channel means the same
label) and the HU window (the same intensities), otherwise averaging would mix different questions. Like the rest
of ``inference``, nothing here imports qiskit (a run folder with QPG layers imports it when loaded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .model import load_for_inference, model_preprocessing, predict_probabilities

__all__ = ["Ensemble", "load_ensemble", "load_models", "parse_ensemble"]


@dataclass
class Ensemble:
    """Loaded members: (model, metadata) pairs with the same classes and window."""

    members: list[tuple[nn.Module, dict[str, Any]]]

    def predict_probabilities(self, image_hu: np.ndarray, voxel_spacing: Sequence[float],
                              device: torch.device | str = "cpu", **options: Any) -> tuple[np.ndarray, np.ndarray]:
        """(labels ``[X, Y, Z]`` uint8, mean softmax ``[X, Y, Z, C]`` float32): the argmax of the averaged
        probabilities, each member preprocessing the canonical HU volume (``voxel_spacing``: its mm along X, Y) as
        it was trained (``options``, e.g. ``tta``, go to each member's :func:`~.model.predict_probabilities`)."""
        total: np.ndarray | None = None
        for model, meta in self.members:
            _, probabilities = predict_probabilities(model, image_hu, voxel_spacing=voxel_spacing,
                                                     **model_preprocessing(meta), device=device, **options)
            total = probabilities.astype(np.float64) if total is None else total + probabilities
        assert total is not None, "an ensemble has members"
        mean = (total / len(self.members)).astype(np.float32)
        return mean.argmax(axis=-1).astype(np.uint8), mean


def parse_ensemble(text: str) -> list[Path]:
    """``RUN,RUN,...`` → paths; at least two, none twice."""
    paths = [Path(part.strip()) for part in text.split(",") if part.strip()]
    if len(paths) < 2:
        raise ConfigError(f"--ensemble: give at least two runs or exports separated by commas, got {text!r}")
    if len({p.resolve() for p in paths}) != len(paths):
        raise ConfigError(f"--ensemble: a model is listed twice in {text!r}")
    return paths


def load_ensemble(paths: Sequence[Path], device: torch.device | str = "cpu",
                  checkpoint: str | None = None) -> tuple[Ensemble, dict[str, Any]]:
    """The members (runs or exports) and the ensemble's metadata; different classes or windows are refused."""
    members = [load_for_inference(Path(p), device, checkpoint=checkpoint) for p in paths]
    first = members[0][1]
    for path, (_, meta) in zip(paths[1:], members[1:]):
        for key in ("classes", "window"):
            if list(meta[key]) != list(first[key]):
                raise ConfigError(f"--ensemble: {path} has {key} {list(meta[key])}, but {paths[0]} has "
                                  f"{list(first[key])}; an ensemble needs the same {key}")
    meta = {**first, "members": [m["source"] for _, m in members],
            "source": f"ensemble of {len(members)}: " + "; ".join(m["source"] for _, m in members)}
    return Ensemble(members), meta


def load_models(model_path: Path | Sequence[Path], device: torch.device | str = "cpu",
                checkpoint: str | None = None) -> tuple[nn.Module | Ensemble, dict[str, Any]]:
    """One model (a run or export path) or an ensemble (a list of them), with its metadata."""
    if isinstance(model_path, (str, Path)):
        return load_for_inference(Path(model_path), device, checkpoint=checkpoint)
    return load_ensemble(list(model_path), device, checkpoint=checkpoint)
