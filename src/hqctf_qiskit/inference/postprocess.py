"""Connected-component filtering of a predicted label volume (``--keep-largest``, ``--min-volume``).

A slice-by-slice model leaves small islands of false positives; the field removes them per class by 3D connected
components (nnU-Net's "keep largest component"). Components are found with ``scipy.ndimage.label`` at
26-connectivity (voxels touching by a face, an edge or a corner are one component), on each class's own mask.
Removed voxels become background (label 0).

Nothing is filtered by default: a kidney class usually has two components (left and right), and keeping only the
largest would silently drop one. ``kidney:2`` keeps both; ``tumor:all`` keeps every tumor component (only
``--min-volume`` then applies to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..errors import ConfigError

__all__ = ["ComponentFilter", "filter_components", "parse_keep_largest", "voxel_volume_mm3"]

CONNECTIVITY_26 = ndimage.generate_binary_structure(3, 3)


@dataclass(frozen=True)
class ComponentFilter:
    """Which components survive: ``keep_largest`` maps a class name to N (the N largest) or None (all);
    ``min_volume_mm3`` removes components of any foreground class smaller than this volume."""

    keep_largest: dict[str, int | None] = field(default_factory=dict)
    min_volume_mm3: float | None = None

    @property
    def is_active(self) -> bool:
        return bool(self.keep_largest) or self.min_volume_mm3 is not None

    def check_classes(self, classes: Sequence[str]) -> None:
        """Refuse a class the model does not predict (or background, which is not filtered)."""
        foreground = list(classes)[1:]
        for name in self.keep_largest:
            if name not in foreground:
                raise ConfigError(f"--keep-largest: unknown class {name!r}; the model's classes are "
                                  f"{', '.join(foreground)}")

    def describe(self) -> dict[str, object]:
        return {"keep_largest": {k: ("all" if v is None else v) for k, v in self.keep_largest.items()},
                "min_volume_mm3": self.min_volume_mm3, "connectivity": 26}


def parse_keep_largest(text: str | None) -> dict[str, int | None]:
    """``"kidney:2,tumor:all"`` → ``{"kidney": 2, "tumor": None}`` (None = keep every component)."""
    if text is None or not text.strip():
        return {}
    parsed: dict[str, int | None] = {}
    for part in text.split(","):
        name, sep, count = (piece.strip() for piece in part.partition(":"))
        if not sep or not name:
            raise ConfigError(f"--keep-largest: expected CLASS:N or CLASS:all pairs, got {part.strip()!r}")
        if name in parsed:
            raise ConfigError(f"--keep-largest: class {name!r} given twice")
        if count.lower() == "all":
            parsed[name] = None
        elif count.isdigit() and int(count) >= 1:
            parsed[name] = int(count)
        else:
            raise ConfigError(f"--keep-largest: {name}:{count} needs a whole number ≥ 1 or 'all'")
    return parsed


def voxel_volume_mm3(affine: np.ndarray) -> float:
    """Volume of one voxel: |det| of the affine's 3×3 part (spacing product, shear and orientation included)."""
    return float(abs(np.linalg.det(np.asarray(affine, dtype=np.float64)[:3, :3])))


def filter_components(labels: np.ndarray, classes: Sequence[str], rule: ComponentFilter,
                      voxel_mm3: float) -> np.ndarray:
    """A copy of ``labels`` without the components ``rule`` removes (set to background)."""
    rule.check_classes(classes)
    result = labels.copy()
    if not rule.is_active:
        return result
    for value, name in enumerate(classes):
        if value == 0:
            continue
        keep = rule.keep_largest.get(name)
        if keep is None and rule.min_volume_mm3 is None:
            continue
        components, count = ndimage.label(labels == value, structure=CONNECTIVITY_26)
        if count == 0:
            continue
        sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]  # voxels of components 1..count
        kept = np.ones(count, dtype=bool)
        if rule.min_volume_mm3 is not None:
            kept &= sizes * voxel_mm3 >= rule.min_volume_mm3
        if keep is not None:
            order = np.argsort(-sizes, kind="stable")  # ties: the component found first wins
            kept[order[keep:]] = False
        removed = np.concatenate(([False], ~kept))[components]
        result[removed] = 0
    return result
