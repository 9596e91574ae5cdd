"""HU windowing and 2D resizing, shared by training (slices to a fixed size) and prediction (back to native).

Both directions use the same pixel-centre convention (``align_corners=False`` / nearest-exact), so a mask
resized down and back up stays aligned with the image instead of drifting by half a pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DataError

__all__ = ["DEFAULT_WINDOW", "resize_slice", "resize_to", "window_and_scale"]

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
