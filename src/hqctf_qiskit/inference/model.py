"""Volume prediction and model loading for inference. An exported model needs torch + smp only (no qiskit)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..data.preprocessing import network_slices
from ..models import build_model
from .sliding import network_logits

EXPORT_META = "model.json"
EXPORT_WEIGHTS = "model.pt"
LEGACY_SPACING = "none"  # as config.files: whole slices squeezed to the patch size (exports from before --spacing)


TTA_MODES = ("none", "flip")

# Test-time augmentation by mirroring, as nnU-Net does: the model also sees each axial slice mirrored along its two
# in-plane axes (left-right, anterior-posterior, and both), the outputs are mirrored back and their softmax averaged.
# Batches are [N, 1, X, Y] of RAS slices: dim 2 is left-right, dim 3 anterior-posterior. Superior-inferior is not
# an in-plane axis of a 2D slice (mirroring it only reorders the slices), so it is not a view here.
_TTA_FLIPS: dict[str, tuple[tuple[int, ...], ...]] = {"none": ((),), "flip": ((), (2,), (3,), (2, 3))}


def check_tta(tta: str) -> None:
    if tta not in TTA_MODES:
        raise ConfigError(f"--tta: unknown mode {tta!r}; choose {', '.join(TTA_MODES)}")


def model_preprocessing(meta: dict[str, Any]) -> dict[str, Any]:
    """``window``, ``patch_size`` and ``spacing`` (mm, or None: the legacy squeeze) from a model's metadata, as
    :func:`predict_volume` takes them. Exports and runs from before ``--spacing`` have no spacing (they squeezed
    whole slices) and call the patch size ``image_size``."""
    spacing = meta.get("spacing", LEGACY_SPACING)
    size = meta.get("patch_size", meta.get("image_size"))
    if size is None:
        raise CheckpointError(f"{meta.get('source', 'model metadata')}: no patch_size (or image_size)")
    return {"window": tuple(meta["window"]), "patch_size": int(size),
            "spacing": None if spacing in (None, LEGACY_SPACING) else float(spacing)}


@torch.no_grad()
def predict_volume(
    model: nn.Module, image_hu: np.ndarray, *, window: tuple[float, float], patch_size: int,
    spacing: float | None = None, voxel_spacing: Sequence[float] | None = None,
    device: torch.device | str = "cpu", batch_size: int = 16, tta: str = "none",
) -> np.ndarray:
    """Label volume ``[X, Y, Z]`` (uint8) for a canonical HU volume, predicted slice by slice.

    Each axial slice is preprocessed exactly as in training: windowed, scaled and resampled from ``voxel_spacing``
    (the volume's mm along X, Y) to ``spacing`` mm per pixel, or with ``spacing`` None squeezed to ``patch_size``
    squared (the legacy way). The network runs on it through :func:`~.sliding.network_logits` (a sliding window
    where the slice is larger than the patch); the logits are resized back to the native in-plane size before the
    argmax, so labels live on the input grid. With ``tta="flip"`` the argmax is of the mean softmax over the
    mirrored views.
    """
    labels = np.empty(image_hu.shape, dtype=np.uint8)
    for start, views in _native_logits(model, image_hu, window, patch_size, spacing, voxel_spacing, device,
                                       batch_size, tta):
        scores = views[0] if len(views) == 1 else _mean_softmax(views)
        labels[:, :, start : start + scores.shape[0]] = scores.argmax(dim=1).permute(1, 2, 0).cpu().numpy()
    return labels


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, image_hu: np.ndarray, *, window: tuple[float, float], patch_size: int,
    spacing: float | None = None, voxel_spacing: Sequence[float] | None = None,
    device: torch.device | str = "cpu", batch_size: int = 16, tta: str = "none",
) -> tuple[np.ndarray, np.ndarray]:
    """(labels ``[X, Y, Z]`` uint8, softmax ``[X, Y, Z, C]`` float32) for a canonical HU volume.

    The same logits as :func:`predict_volume`; here the labels are the argmax of the float32 probabilities
    themselves, so a written probability map and its label map never disagree (they can differ from
    :func:`predict_volume` only where two classes tie to float32 precision). With ``tta="flip"`` the
    probabilities are the mean softmax over the mirrored views.
    """
    probabilities: np.ndarray | None = None
    for start, views in _native_logits(model, image_hu, window, patch_size, spacing, voxel_spacing, device,
                                       batch_size, tta):
        batch = _mean_softmax(views).permute(2, 3, 0, 1).cpu().numpy()  # [X, Y, slices, C]
        if probabilities is None:
            probabilities = np.empty((*image_hu.shape, batch.shape[-1]), dtype=np.float32)
        probabilities[:, :, start : start + batch.shape[2]] = batch
    assert probabilities is not None, "a volume has at least one slice"
    return probabilities.argmax(axis=-1).astype(np.uint8), probabilities


def _mean_softmax(views: list[torch.Tensor]) -> torch.Tensor:
    if len(views) == 1:
        return torch.softmax(views[0].float(), dim=1)
    return torch.stack([torch.softmax(view.float(), dim=1) for view in views]).mean(dim=0)


def _native_logits(model: nn.Module, image_hu: np.ndarray, window: tuple[float, float], patch_size: int,
                   spacing: float | None, voxel_spacing: Sequence[float] | None, device: torch.device | str,
                   batch_size: int, tta: str = "none"):
    """(first slice index, [logits ``[slices, C, X, Y]`` at the native in-plane size, one per TTA view]) per batch
    of axial slices; each view's logits are mirrored back onto the unflipped slice before resizing."""
    check_tta(tta)
    if spacing is not None and voxel_spacing is None:
        raise ValueError("predicting at a spacing needs the volume's voxel_spacing")
    model.eval()
    native = image_hu.shape[:2]
    in_plane = (1.0, 1.0) if voxel_spacing is None else voxel_spacing  # unused by the legacy squeeze
    slices = network_slices(image_hu, in_plane, window, spacing, patch_size)
    for start in range(0, slices.shape[0], batch_size):
        batch = torch.from_numpy(slices[start : start + batch_size]).unsqueeze(1).to(device)
        views = []
        for dims in _TTA_FLIPS[tta]:
            logits = network_logits(model, batch.flip(dims) if dims else batch, patch_size, batch_size)
            logits = logits.flip(dims) if dims else logits
            views.append(F.interpolate(logits, size=native, mode="bilinear", align_corners=False))
        yield start, views


def is_export(path: Path) -> bool:
    return (Path(path) / EXPORT_META).is_file()


def read_export_meta(path: Path) -> dict[str, Any]:
    """An export folder's ``model.json``."""
    meta_path = Path(path) / EXPORT_META
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{meta_path}: not valid JSON ({exc.msg})") from None


def load_export(path: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """A plain smp model and its metadata from an ``hqctf export`` folder."""
    path = Path(path)
    weights_path = path / EXPORT_WEIGHTS
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path}: export weights not found")
    meta = read_export_meta(path)
    model = build_model(meta["arch"], meta["encoder"], in_channels=meta.get("in_channels", 1),
                        classes=len(meta["classes"]))
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval(), meta


def load_for_inference(path: Path, device: torch.device | str = "cpu",
                       checkpoint: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A plain (classical) model and metadata from an export folder or a run folder.

    ``checkpoint`` (best, final, latest; default best) chooses a run folder's checkpoint; the metadata's
    ``source`` says which file was used. An export holds one set of weights, so a checkpoint given with one is an
    error rather than silently ignored.
    """
    path = Path(path)
    if checkpoint is not None:
        from ..training.runs import check_checkpoint_name

        check_checkpoint_name(checkpoint)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run or export folder")
    if is_export(path):
        if checkpoint is not None:
            source = export_source(path, read_export_meta(path))
            raise ConfigError(f"--checkpoint: applies to run folders only; {source} holds one set of weights "
                              "(pass its run folder to choose a checkpoint)")
        model, meta = load_export(path, device)
        return model, {**meta, "source": export_source(path, meta)}
    from ..training.runs import load_run_checkpoint  # a run folder may hold QPG layers: rebuilding them needs qiskit

    model, config, used = load_run_checkpoint(path, checkpoint=checkpoint or "best")
    from ..weightgen.export import export_plain

    meta = {**export_metadata(config), "checkpoint": used.to_dict(),
            "source": f"run {path}, checkpoint {used.describe()}"}
    return export_plain(model).to(device).eval(), meta


def export_source(path: Path, meta: dict[str, Any]) -> str:
    """``export E (run R, checkpoint best, epoch 4)``: where an export's weights came from."""
    if not meta.get("source_run"):
        return f"export {path}"
    epoch = f", epoch {meta['checkpoint_epoch']}" if meta.get("checkpoint_epoch") is not None else ""
    return f"export {path} (run {meta['source_run']}, checkpoint {meta.get('checkpoint')}{epoch})"


def export_metadata(config) -> dict[str, Any]:
    return {
        "arch": config.model.arch, "encoder": config.model.encoder, "in_channels": 1,
        "classes": list(config.data.classes), "window": list(config.data.window),
        # how slices reach the network (model_preprocessing reads them; older exports have image_size, no spacing)
        "patch_size": config.data.patch_size, "spacing": config.data.spacing,
        # the weights the encoder started from (an export holds the trained weights: inference never downloads)
        "encoder_weights": config.model.encoder_weights,
    }
