"""HU windowing and 2D resizing, shared by training and prediction (slices to the network's grid and back).

Both directions use the same pixel-centre convention (``align_corners=False`` / nearest-exact), so a mask
resized down and back up stays aligned with the image instead of drifting by half a pixel. The network's grid is
:func:`network_grid`: the slice at the run's in-plane spacing (or, for runs from before ``--spacing``, the whole
slice squeezed to the patch size).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DataError

__all__ = ["DEFAULT_WINDOW", "median_inplane_spacing", "network_grid", "network_labels", "network_slices",
           "resize_slice", "resize_to", "window_and_scale"]

# Abdominal soft-tissue window (HU) commonly used for KiTS: fat is near 0, contrast-enhanced cortex near 1.
DEFAULT_WINDOW: tuple[float, float] = (-79.0, 304.0)


def window_and_scale(hu: np.ndarray, window: Sequence[float] = DEFAULT_WINDOW) -> np.ndarray:
    """Clip HU to ``window`` and scale it linearly to [0, 1] (float32), the network's input range."""
    if len(window) != 2:
        raise DataError(f"--window: expected two values 'low,high', got {tuple(window)}")
    low, high = float(window[0]), float(window[1])
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise DataError(f"--window: low must be below high, got ({low}, {high})")
    out = np.clip(np.asarray(hu, dtype=np.float32), low, high)
    out -= np.float32(low)
    out *= np.float32(1.0 / (high - low))
    return out


def _nearest_indices(size_in: int, size_out: int) -> np.ndarray:
    """Source index for each output pixel by pixel centres (torch's 'nearest-exact'), symmetric at both ends."""
    centres = (np.arange(size_out, dtype=np.float64) + 0.5) * (size_in / size_out)
    return np.minimum(np.floor(centres).astype(np.int64), size_in - 1)


def resize_to(arr2d: np.ndarray, shape: Sequence[int], *, order: int) -> np.ndarray:
    """Resize the last two axes of ``arr2d`` to ``shape``.

    ``order=1``: bilinear with antialiasing when shrinking (images, class probabilities), returns float32.
    ``order=0``: nearest neighbour by pixel centres (label masks), keeps the dtype, never invents a class.
    Leading axes (channels, slices) are carried along, so a whole [C, H, W] stack resizes in one call.
    """
    arr = np.asarray(arr2d)
    if arr.ndim < 2:
        raise DataError(f"resize_to: expected at least 2 dimensions, got shape {arr.shape}")
    out_h, out_w = (int(s) for s in shape)
    if out_h < 1 or out_w < 1:
        raise DataError(f"resize_to: target shape must be positive, got {tuple(shape)}")
    in_h, in_w = arr.shape[-2:]
    if order == 0:
        rows = _nearest_indices(in_h, out_h)
        cols = _nearest_indices(in_w, out_w)
        return np.ascontiguousarray(arr[..., rows[:, None], cols[None, :]])
    if order != 1:
        raise DataError(f"resize_to: order must be 0 (nearest) or 1 (bilinear), got {order}")
    if (in_h, in_w) == (out_h, out_w):
        return np.array(arr, dtype=np.float32, copy=True)
    lead = arr.shape[:-2]
    tensor = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).reshape(-1, 1, in_h, in_w)
    resized = F.interpolate(tensor, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True)
    return resized.reshape(*lead, out_h, out_w).numpy()


def resize_slice(img2d: np.ndarray, size: int, *, order: int) -> np.ndarray:
    """Resize to ``size`` x ``size`` for the network (order 1 images, order 0 labels)."""
    return resize_to(img2d, (size, size), order=order)


def network_grid(shape: Sequence[int], spacing: Sequence[float], target: float | None,
                 patch_size: int) -> tuple[int, int]:
    """The in-plane size ``(X, Y)`` a slice of ``shape`` (at ``spacing`` mm) is resampled to for the network.

    ``target`` mm per pixel: each axis gets ``round(n * s / target)`` pixels (nnU-Net's rule), so x and y both hold
    about ``target`` mm per pixel whatever the scanner's aspect. ``target`` None: the legacy squeeze of the whole
    slice to ``patch_size`` squared (runs and exports from before ``--spacing``).
    """
    if target is None:
        return int(patch_size), int(patch_size)
    if not (math.isfinite(target) and target > 0):
        raise DataError(f"--spacing: must be a spacing in mm > 0, got {target}")
    size_x, size_y = (max(1, int(round(int(n) * float(s) / target))) for n, s in zip(shape[:2], spacing[:2]))
    return size_x, size_y


def median_inplane_spacing(spacings: Iterable[Sequence[float]]) -> float:
    """``--spacing auto``: the median of the cases' x and y spacings (mm), rounded to 0.1 micrometre so that the
    number written to config.yaml is the one training used."""
    values = [float(v) for spacing in spacings for v in spacing[:2]]
    if not values:
        raise DataError("--spacing auto: no cases to take the median in-plane spacing of")
    return round(float(np.median(values)), 4)


def network_slices(volume_hu: np.ndarray, spacing: Sequence[float], window: Sequence[float], target: float | None,
                   patch_size: int) -> np.ndarray:
    """A canonical HU volume ``[X, Y, Z]`` as the network's input: axial slices ``[Z, X', Y']``, float32 in [0, 1],
    on :func:`network_grid` (bilinear, antialiased when shrinking). Training and prediction both call this."""
    grid = network_grid(volume_hu.shape, spacing, target, patch_size)
    slices = resize_to(np.moveaxis(window_and_scale(volume_hu, window), 2, 0), grid, order=1)
    np.clip(slices, 0.0, 1.0, out=slices)  # bilinear + antialias can overshoot by rounding
    return np.ascontiguousarray(slices, dtype=np.float32)


def network_labels(label: np.ndarray, spacing: Sequence[float], target: float | None,
                   patch_size: int) -> np.ndarray:
    """A label volume ``[X, Y, Z]`` as slices ``[Z, X', Y']`` on the same grid (nearest neighbour: no new classes)."""
    grid = network_grid(label.shape, spacing, target, patch_size)
    return np.ascontiguousarray(resize_to(np.moveaxis(label, 2, 0), grid, order=0))
