"""Overlap metrics per class and for the KiTS regions (boundary metrics: :mod:`.surface`).

NaN policy: when both the prediction and the reference are empty for a class (or region), Dice and IoU are NaN —
"nothing to find, nothing found" is neither a success nor a failure — and means skip NaNs (``nanmean``). A
prediction of something where the reference is empty scores 0. A class the case's reference does not cover at all
(an RTSTRUCT without a structure for it: ``CaseVolume.absent_classes``) is NaN too, whatever was predicted: an
empty reference there means "not drawn", not "not there", so a prediction cannot be scored; so is every KiTS region
that includes such a class.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .surface import DEFAULT_NSD_TOLERANCE_MM, SURFACE_METRICS, surface_metrics


def kits_regions(class_names: Sequence[str]) -> dict[str, list[int]]:
    """KiTS evaluation regions available for this class list: kidney+tumor (+cyst) and tumor."""
    names = [c.lower() for c in class_names]
    regions: dict[str, list[int]] = {}
    if "kidney" in names and "tumor" in names:
        regions["kidney+tumor"] = [i for i, c in enumerate(names) if c in ("kidney", "tumor", "cyst")]
        regions["tumor"] = [names.index("tumor")]
    return regions


def overlap(pred: np.ndarray | torch.Tensor, ref: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """(Dice, IoU) of two boolean masks, NaN when both are empty."""
    if isinstance(pred, torch.Tensor):
        inter, p, r = int((pred & ref).sum()), int(pred.sum()), int(ref.sum())
    else:
        inter, p, r = int(np.logical_and(pred, ref).sum()), int(pred.sum()), int(ref.sum())
    if p + r == 0:
        return math.nan, math.nan
    return 2 * inter / (p + r), inter / (p + r - inter)


def scored_masks(pred: np.ndarray, ref: np.ndarray, class_names: Sequence[str], absent: Sequence[int] = (),
                 ) -> Iterator[tuple[str, tuple[np.ndarray, np.ndarray] | None]]:
    """(name, (prediction mask, reference mask)) for every foreground class, then every KiTS region (``region_…``);
    ``None`` instead of the masks for a class in ``absent`` and every region that includes one (not scorable)."""
    unscored = set(int(c) for c in absent)
    for index, name in enumerate(class_names):
        if index == 0:
            continue
        yield name, None if index in unscored else (pred == index, ref == index)
    for region, labels in kits_regions(class_names).items():
        masks = None if unscored & set(labels) else (np.isin(pred, labels), np.isin(ref, labels))
        yield f"region_{region}", masks


def case_metrics(pred: np.ndarray, ref: np.ndarray, class_names: Sequence[str],
                 absent: Sequence[int] = ()) -> dict[str, float]:
    """Dice and IoU for every foreground class and every KiTS region of one 3D case.

    ``absent``: class indices the reference does not cover in this case (NaN for them and their regions).
    """
    result: dict[str, float] = {}
    for name, masks in scored_masks(pred, ref, class_names, absent):
        dice, iou = overlap(*masks) if masks is not None else (math.nan, math.nan)
        result[f"dice_{name}"], result[f"iou_{name}"] = dice, iou
    return result


def case_surface_metrics(pred: np.ndarray, ref: np.ndarray, class_names: Sequence[str], spacing: Sequence[float],
                         nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM,
                         absent: Sequence[int] = ()) -> dict[str, float]:
    """HD95, ASSD, NSD and volume difference (:mod:`.surface`) for every foreground class and KiTS region of one
    3D case on a grid of ``spacing`` mm; NaN for all of them where the class is ``absent``."""
    result: dict[str, float] = {}
    for name, masks in scored_masks(pred, ref, class_names, absent):
        values = (surface_metrics(*masks, spacing, nsd_tolerance_mm) if masks is not None
                  else dict.fromkeys(SURFACE_METRICS, math.nan))
        result.update({f"{metric}_{name}": values[metric] for metric in SURFACE_METRICS})
    return result


def nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def nansd(values: Sequence[float]) -> float:
    """Sample standard deviation skipping NaN; 0 for one value, NaN for none."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan
    return statistics.stdev(finite) if len(finite) > 1 else 0.0


class OverlapAccumulator:
    """Accumulates intersections and sizes per class over many batches (validation Dice over a whole split)."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.inter = torch.zeros(num_classes, dtype=torch.float64)
        self.pred = torch.zeros(num_classes, dtype=torch.float64)
        self.ref = torch.zeros(num_classes, dtype=torch.float64)

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        pred = logits.argmax(dim=1)
        for c in range(1, self.num_classes):
            p, r = pred == c, target == c
            self.inter[c] += (p & r).sum().item()
            self.pred[c] += p.sum().item()
            self.ref[c] += r.sum().item()

    def dice(self) -> list[float]:
        """Per foreground class (index 1..C-1); NaN where both are empty."""
        out = []
        for c in range(1, self.num_classes):
            total = self.pred[c] + self.ref[c]
            out.append(math.nan if total == 0 else float(2 * self.inter[c] / total))
        return out

    def iou(self) -> list[float]:
        out = []
        for c in range(1, self.num_classes):
            union = self.pred[c] + self.ref[c] - self.inter[c]
            out.append(math.nan if union == 0 else float(self.inter[c] / union))
        return out
