"""Training crops of a fixed size from slices of any size: nnU-Net's foreground-biased patch sampling, in 2D.

A slice smaller than the patch is padded (the image with 0, the window's low end after scaling; the label with 0,
background), so a crop may sit anywhere the slice fits inside it: small slices land at random places in the patch,
large ones are cut at random places. Everything a crop draws comes from the generator it is given, so the caller
decides what it depends on (:class:`~.slices.SliceDataset`: the item's seed alone).
"""

from __future__ import annotations

import numpy as np

__all__ = ["crop", "crop_start_range", "sample_crop_start"]


def crop_start_range(size: int, patch: int) -> tuple[int, int]:
    """Smallest and largest start of a ``patch``-long crop along an axis of ``size`` pixels.

    Larger slice: ``[0, size - patch]`` (the crop stays inside). Smaller slice: ``[size - patch, 0]`` (negative
    starts are padding before the slice; the whole slice stays inside the crop).
    """
    return min(0, size - patch), max(0, size - patch)


def sample_crop_start(label: np.ndarray, patch: int, rng: np.random.Generator) -> tuple[int, int]:
    """The first corner (may be negative: padding) of a ``patch`` squared crop of a slice with labels ``label``.

    With foreground: centred on a random foreground pixel, shifted by up to a quarter patch along each axis so the
    object is not always in the middle, then kept within :func:`crop_start_range` (the pixel stays in the crop).
    Without foreground: uniform over the allowed starts.
    """
    foreground = np.flatnonzero(label)
    centre = shift = None
    if foreground.size:
        centre = np.unravel_index(int(foreground[rng.integers(foreground.size)]), label.shape)
        shift = rng.integers(-(patch // 4), patch // 4 + 1, size=2)
    starts = []
    for axis in (0, 1):
        low, high = crop_start_range(int(label.shape[axis]), patch)
        if centre is not None and shift is not None:
            start = int(np.clip(int(centre[axis]) - patch // 2 + int(shift[axis]), low, high))
        else:
            start = int(rng.integers(low, high + 1))
        starts.append(start)
    return starts[0], starts[1]


def crop(array: np.ndarray, start: tuple[int, int], patch: int, fill: float | int = 0) -> np.ndarray:
    """The ``patch`` squared window of the last two axes of ``array`` from ``start``, ``fill`` outside the array.

    Leading axes (channels) are carried along; the result is a new array of ``array``'s dtype.
    """
    out = np.full((*array.shape[:-2], patch, patch), fill, dtype=array.dtype)
    source, target = [], []
    for axis, first in zip((-2, -1), start):
        size = array.shape[axis]
        low, high = max(first, 0), min(first + patch, size)
        if high <= low:  # the window misses the array along this axis (a caller's bug, but keep it padding)
            return out
        source.append(slice(low, high))
        target.append(slice(low - first, high - first))
    out[..., target[0], target[1]] = array[..., source[0], source[1]]
    return out
