"""Which classes of a label volume become ROIs/segments, and the colour each one is shown in.

``class_names[c]`` names label value ``c``; value 0 is the background and is never written. A class becomes an
ROI (RTSTRUCT) or a segment (SEG) when it has at least one voxel; its number there is its label value, so the same
class keeps the same ROI number in every patient. Colours default to a fixed palette indexed by label value (the
same class has the same colour in every file and in both formats).
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence

import numpy as np

from ...errors import ConfigError, DataError

__all__ = ["PALETTE", "check_labels", "present_classes", "class_colours"]

PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40),
)
"""Distinct colours for label values 1, 2, … (Sasha Trubetskoy's list); further values get golden-angle hues."""


def _palette_colour(label: int) -> tuple[int, int, int]:
    if label <= len(PALETTE):
        return PALETTE[label - 1]
    hue = (label * 0.618033988749895) % 1.0
    return tuple(int(round(255 * v)) for v in colorsys.hsv_to_rgb(hue, 0.75, 0.95))  # type: ignore[return-value]


def check_labels(labels: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """The label volume as an integer array ``[rows, columns, slices]`` whose values all name a class."""
    names = list(class_names)
    if len(names) < 2:
        raise ConfigError(f"classes: need the background and at least one class, got {names}")
    if len(set(names)) != len(names):
        raise ConfigError(f"classes: names must be unique, got {names}")
    for name in names[1:]:
        if not name or len(name) > 64 or "\\" in name or name != name.strip():
            raise ConfigError(f"classes: {name!r} cannot be an ROI name (1-64 characters, no backslash, "
                              "no leading or trailing spaces)")
    array = np.asarray(labels)
    if array.ndim != 3:
        raise DataError(f"label volume: expected 3 axes (rows, columns, slices), got shape {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"label volume: expected integer labels, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= len(names)):
        bad = int(array.max()) if array.max() >= len(names) else int(array.min())
        raise DataError(f"label volume: value {bad} is not a class index (classes: {', '.join(names)})")
    return array


def present_classes(labels: np.ndarray, class_names: Sequence[str]) -> list[int]:
    """Label values 1… that have at least one voxel; none at all is an error (nothing to write)."""
    counts = np.bincount(labels.ravel().astype(np.int64), minlength=len(class_names))
    present = [c for c in range(1, len(class_names)) if counts[c] > 0]
    if not present:
        raise DataError("label volume: no foreground voxels, nothing to write (a structure set needs one ROI)")
    return present


def class_colours(class_names: Sequence[str],
                  colours: Mapping[str, Sequence[int]] | None = None) -> dict[int, tuple[int, int, int]]:
    """RGB (0-255) per foreground label value: ``colours[name]`` where given, else the palette."""
    given = dict(colours or {})
    unknown = sorted(set(given) - set(class_names[1:]))
    if unknown:
        raise ConfigError(f"colours: {unknown} are not foreground classes ({', '.join(class_names[1:])})")
    result = {}
    for label, name in enumerate(class_names[1:], start=1):
        colour = given.get(name, _palette_colour(label))
        try:
            values = [int(v) for v in colour]
        except (TypeError, ValueError):
            values = []
        if len(values) != 3 or not all(0 <= v <= 255 for v in values):
            raise ConfigError(f"colours: {name}: expected three integers 0-255, got {list(colour)}")
        result[label] = (values[0], values[1], values[2])
    return result
