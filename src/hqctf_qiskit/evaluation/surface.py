"""Boundary and volume metrics of one 3D mask pair in millimetres: HD95, ASSD, surface Dice (NSD), volume difference.

The distances are MONAI's (``compute_hausdorff_distance``, ``compute_average_surface_distance``,
``compute_surface_dice``) with the voxel spacing from the image header, so an anisotropic CT (thick slices) is
measured in mm, not in voxels. MONAI answers NaN or inf for empty masks; the rule here is explicit instead:

* both masks empty: HD95, ASSD and NSD are NaN (nothing to find, nothing found), volume difference 0 mL;
* one mask empty: HD95 and ASSD are NaN (there is no surface to measure to), NSD is 0 (no boundary agrees);
* relative volume difference is NaN whenever the reference is empty (nothing to be relative to).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from importlib.metadata import version

import numpy as np
import torch

from ..errors import ConfigError

SURFACE_METRICS = ("hd95", "assd", "nsd", "voldiff_ml", "voldiff_rel")
DEFAULT_NSD_TOLERANCE_MM = 2.0
SURFACE_NAN_POLICY = (
    "HD95/ASSD/NSD are NaN when prediction and reference are both empty; when only one is empty HD95 and ASSD are "
    "NaN (no surface to measure to) and NSD is 0; volume difference (prediction - reference, mL) is 0 when both are "
    "empty and its relative form is NaN when the reference is empty"
)


def check_nsd_tolerance(tolerance_mm: float) -> None:
    """Refuse a tolerance that is not a positive, finite number of mm (``--nsd-tolerance``)."""
    if not (math.isfinite(tolerance_mm) and tolerance_mm > 0):
        raise ConfigError(f"--nsd-tolerance: must be a positive number of mm, not {tolerance_mm}")


def implementation() -> dict[str, str]:
    """What computed the surface metrics, for ``summary.json``."""
    return {"monai": version("monai")}


def _as_batch(mask: np.ndarray) -> torch.Tensor:
    """[X, Y, Z] boolean mask -> MONAI's one-channel batch [1, 1, X, Y, Z]."""
    return torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))[None, None]


def _crop_to_union(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks cut to the bounding box of either, one background voxel wider where the volume allows: distances
    do not change, and MONAI then scans a kidney-sized box instead of a whole CT (seconds per class otherwise)."""
    union = np.logical_or(pred, ref)
    box = []
    for axis in range(union.ndim):
        hits = np.flatnonzero(union.any(axis=tuple(a for a in range(union.ndim) if a != axis)))
        box.append(slice(max(int(hits[0]) - 1, 0), int(hits[-1]) + 2))
    return pred[tuple(box)], ref[tuple(box)]


def surface_metrics(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float],
                    nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM) -> dict[str, float]:
    """HD95 and ASSD (mm), surface Dice at ``nsd_tolerance_mm``, and volume difference (mL and relative) of two
    boolean masks on a grid of ``spacing`` mm per axis (the masks' axis order), under the module's empty-mask rule."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    pred_voxels, ref_voxels = int(np.count_nonzero(pred)), int(np.count_nonzero(ref))
    result = {
        "voldiff_ml": (pred_voxels - ref_voxels) * voxel_ml,
        "voldiff_rel": (pred_voxels - ref_voxels) / ref_voxels if ref_voxels else math.nan,
    }
    if pred_voxels == 0 and ref_voxels == 0:
        return {"hd95": math.nan, "assd": math.nan, "nsd": math.nan, **result}
    if pred_voxels == 0 or ref_voxels == 0:
        return {"hd95": math.nan, "assd": math.nan, "nsd": 0.0, **result}
    # imported here: monai.metrics takes seconds to import, and training imports this package for Dice alone
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

    pred, ref = _crop_to_union(pred, ref)
    p, r, spacing = _as_batch(pred), _as_batch(ref), [float(s) for s in spacing]
    with warnings.catch_warnings():  # MONAI's own deprecation notice about an internal argument
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*")
        hd95 = compute_hausdorff_distance(p, r, include_background=True, percentile=95, spacing=spacing)
        assd = compute_average_surface_distance(p, r, include_background=True, symmetric=True, spacing=spacing)
        nsd = compute_surface_dice(p, r, [float(nsd_tolerance_mm)], include_background=True, spacing=spacing)
    return {"hd95": float(hd95), "assd": float(assd), "nsd": float(nsd), **result}
