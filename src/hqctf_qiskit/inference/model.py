"""Volume prediction and model loading for inference. An exported model needs torch + smp only (no qiskit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ..data.preprocessing import resize_to, window_and_scale
from ..models import build_model

EXPORT_META = "model.json"
EXPORT_WEIGHTS = "model.pt"


@torch.no_grad()
def predict_volume(
    model: nn.Module, image_hu: np.ndarray, *, window: tuple[float, float], image_size: int,
    device: torch.device | str = "cpu", batch_size: int = 16,
) -> np.ndarray:
    """Label volume ``[X, Y, Z]`` (uint8) for a canonical HU volume, predicted slice by slice.

    Each axial slice is preprocessed exactly as in training (window, scale, resize to ``image_size``); the logits
    are resized back to the native in-plane size before the argmax, so labels live on the input grid.
    """
    model.eval()
    native = image_hu.shape[:2]
    slices = np.moveaxis(window_and_scale(image_hu, window), 2, 0)
    slices = np.clip(resize_to(slices, (image_size, image_size), order=1), 0.0, 1.0).astype(np.float32)
    labels = np.empty((slices.shape[0], *native), dtype=np.uint8)
    for start in range(0, slices.shape[0], batch_size):
        batch = torch.from_numpy(slices[start : start + batch_size]).unsqueeze(1).to(device)
        logits = model(batch).float()
        logits = F.interpolate(logits, size=native, mode="bilinear", align_corners=False)
        labels[start : start + batch.shape[0]] = logits.argmax(dim=1).cpu().numpy().astype(np.uint8)
    return np.moveaxis(labels, 0, 2)


def is_export(path: Path) -> bool:
    return (Path(path) / EXPORT_META).is_file()


def load_export(path: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """A plain smp model and its metadata from an ``hqctf export`` folder."""
    path = Path(path)
    meta_path, weights_path = path / EXPORT_META, path / EXPORT_WEIGHTS
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path}: export weights not found")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{meta_path}: not valid JSON ({exc.msg})") from None
    model = build_model(meta["arch"], meta["encoder"], in_channels=meta.get("in_channels", 1),
                        classes=len(meta["classes"]))
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval(), meta


def load_for_inference(path: Path, device: torch.device | str = "cpu",
                       checkpoint: str = "best") -> tuple[nn.Module, dict[str, Any]]:
    """A plain (classical) model and metadata from an export folder or a run folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run or export folder")
    if is_export(path):
        return load_export(path, device)
    from ..training.runs import load_run_model  # a run folder may hold QPG layers: rebuilding them needs qiskit

    model, config = load_run_model(path, checkpoint=checkpoint)
    from ..weightgen.export import export_plain

    return export_plain(model).to(device).eval(), export_metadata(config)


def export_metadata(config) -> dict[str, Any]:
    return {
        "arch": config.model.arch, "encoder": config.model.encoder, "in_channels": 1,
        "classes": list(config.data.classes), "window": list(config.data.window), "image_size": config.data.image_size,
    }
