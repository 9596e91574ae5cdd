"""Label values: ``--label-map`` parsing and remapping, whole-number checks, the class range.

Shared by every source of labels (NIfTI/NRRD masks, RTSTRUCTs rasterised by ``dicom``), so a label reads the same
whatever file it came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["check_label_range", "integer_labels", "parse_label_map", "remap_labels"]

# Label values below this are remapped through a lookup table; larger ones fall back to np.unique.
_LUT_LIMIT = 1 << 16


def parse_label_map(text: str | None) -> dict[int, int] | None:
    """Parse ``--label-map`` text such as ``"2:1,3:1"`` into ``{2: 1, 3: 1}``; None or blank means no map."""
    if text is None or not text.strip():
        return None
    mapping: dict[int, int] = {}
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) != 2:
            raise DataError(f"--label-map: expected 'source:target' pairs like '2:1,3:1', got {item.strip()!r}")
        try:
            source, target = int(parts[0]), int(parts[1])
        except ValueError:
            raise DataError(f"--label-map: labels must be integers, got {item.strip()!r}") from None
        if source < 0 or target < 0:
            raise DataError(f"--label-map: labels must be non-negative, got {item.strip()!r}")
        if target > 255:
            raise DataError(f"--label-map: target label {target} does not fit a uint8 mask")
        if source in mapping:
            raise DataError(f"--label-map: source label {source} is mapped twice")
        mapping[source] = target
    return mapping


def integer_labels(label: np.ndarray, path: Path) -> np.ndarray:
    """Labels as int64, refusing float masks whose values are not whole numbers."""
    if label.dtype == np.bool_ or np.issubdtype(label.dtype, np.integer):
        return label.astype(np.int64, copy=False)
    if not np.issubdtype(label.dtype, np.floating):
        raise DataError(f"{path}: unsupported label dtype {label.dtype}")
    finite = np.isfinite(label)
    if not finite.all():
        raise DataError(f"{path}: {int((~finite).sum())} non-finite label voxels (NaN/Inf)")
    rounded = np.rint(label)
    bad = rounded != label
    if bad.any():
        examples = np.unique(label[bad])[:5].tolist()
        raise DataError(f"{path}: non-integer label values, e.g. {examples}")
    return rounded.astype(np.int64)


def remap_labels(label: np.ndarray, label_map: dict[int, int]) -> np.ndarray:
    """Apply ``label_map``; every label not listed becomes 0 (background)."""
    if label.size == 0:
        return label
    low, high = int(label.min()), int(label.max())
    if low >= 0 and high < _LUT_LIMIT:
        lut = np.zeros(high + 1, dtype=np.int64)
        for source, target in label_map.items():
            if source <= high:
                lut[source] = target
        return lut[label]
    values, inverse = np.unique(label, return_inverse=True)
    mapped = np.array([label_map.get(int(v), 0) for v in values], dtype=np.int64)
    return mapped[inverse].reshape(label.shape)


def check_label_range(label: np.ndarray, num_classes: int, path: Path, remapped: bool) -> None:
    bad = (label < 0) | (label >= num_classes)
    if bad.any():
        offending = np.unique(label[bad])
        shown = offending[:10].tolist()
        more = f" (and {offending.size - 10} more)" if offending.size > 10 else ""
        hint = "" if remapped else "; use --label-map to select labels"
        raise DataError(
            f"{path}: label values {shown}{more} outside [0, {num_classes}) "
            f"({int(bad.sum())} voxels{' after --label-map' if remapped else ''}{hint})"
        )
