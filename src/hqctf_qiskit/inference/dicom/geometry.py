"""The geometry a written RTSTRUCT/SEG shares with its CT series: slice order and pixel → patient coordinates.

Axis convention of every label volume handed to the writers: ``labels[i, j, k]`` is row ``i`` and column ``j`` of
slice ``k``, slices in the order :func:`sort_slices` returns (ascending along the slice normal
``row direction × column direction`` of ImageOrientationPatient). Only headers are needed
(``pydicom.dcmread(..., stop_before_pixels=True)``).

Nothing here logs or raises with a patient attribute: messages name the slice's file (or its position in the list).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset

from ...errors import DataError

__all__ = ["sort_slices", "check_series", "slice_normal", "pixel_to_patient", "describe"]

_ORIENTATION_TOLERANCE = 1e-4
_POSITION_TOLERANCE_MM = 1e-3


def describe(dataset: Dataset, index: int | None = None) -> str:
    """How an error names a slice: its file when it was read from one, else its place in the list."""
    filename = getattr(dataset, "filename", None)
    if isinstance(filename, str) and filename:
        return filename
    return f"CT slice {index}" if index is not None else "CT series"


def _floats(dataset: Dataset, keyword: str, count: int, index: int | None) -> np.ndarray:
    value = dataset.get(keyword)
    try:
        array = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.shape != (count,) or not np.all(np.isfinite(array)):
        raise DataError(f"{describe(dataset, index)}: missing or malformed {keyword}")
    return array


def slice_normal(dataset: Dataset, index: int | None = None) -> np.ndarray:
    """The unit normal ``row direction × column direction`` of a slice (its ImageOrientationPatient)."""
    orientation = _floats(dataset, "ImageOrientationPatient", 6, index)
    row_direction, column_direction = orientation[:3], orientation[3:]
    normal = np.cross(row_direction, column_direction)
    if (abs(np.linalg.norm(row_direction) - 1) > 1e-3 or abs(np.linalg.norm(column_direction) - 1) > 1e-3
            or abs(float(np.dot(row_direction, column_direction))) > 1e-3):
        raise DataError(f"{describe(dataset, index)}: ImageOrientationPatient is not two orthogonal unit vectors")
    return normal / np.linalg.norm(normal)


def sort_slices(datasets: Sequence[Dataset]) -> list[Dataset]:
    """The slices in ascending order along the slice normal (the order of a label volume's third axis).

    Refuses a list that is not one stack: slices of different orientations, or two slices at the same position.
    """
    if not datasets:
        raise DataError("CT series: no slices given")
    normal = slice_normal(datasets[0], 0)
    for index, dataset in enumerate(datasets):
        if np.abs(slice_normal(dataset, index) - normal).max() > _ORIENTATION_TOLERANCE:
            raise DataError(f"{describe(dataset, index)}: ImageOrientationPatient differs from the first slice's")
    positions = [float(np.dot(_floats(d, "ImagePositionPatient", 3, i), normal)) for i, d in enumerate(datasets)]
    order = sorted(range(len(datasets)), key=positions.__getitem__)
    for before, after in zip(order, order[1:]):
        if positions[after] - positions[before] < _POSITION_TOLERANCE_MM:
            raise DataError(f"{describe(datasets[after], after)}: two slices at the same position "
                            f"(also {describe(datasets[before], before)})")
    return [datasets[i] for i in order]


def _same(datasets: Sequence[Dataset], keyword: str) -> None:
    first = datasets[0].get(keyword)
    for index, dataset in enumerate(datasets):
        if dataset.get(keyword) != first:
            raise DataError(f"{describe(dataset, index)}: {keyword} differs from the first slice's")


def check_series(datasets: Sequence[Dataset], shape: tuple[int, ...]) -> None:
    """One series, one frame of reference, one pixel grid, and a label volume of shape (rows, columns, slices).

    ``datasets`` must already be in :func:`sort_slices` order; a list that is not is refused (a mis-stack would
    put every contour on the wrong slice).
    """
    if not datasets:
        raise DataError("CT series: no slices given")
    for keyword in ("SOPInstanceUID", "SOPClassUID", "SeriesInstanceUID", "StudyInstanceUID",
                    "FrameOfReferenceUID", "Rows", "Columns"):
        for index, dataset in enumerate(datasets):
            if not dataset.get(keyword):
                raise DataError(f"{describe(dataset, index)}: missing {keyword}")
    for keyword in ("SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID", "Rows", "Columns",
                    "PixelSpacing"):
        _same(datasets, keyword)
    if len({d.SOPInstanceUID for d in datasets}) != len(datasets):
        raise DataError("CT series: the same SOPInstanceUID appears on two slices")
    if list(sort_slices(datasets)) != list(datasets):
        raise DataError("CT series: slices are not sorted along the slice normal (use sort_slices)")
    expected = (int(datasets[0].Rows), int(datasets[0].Columns), len(datasets))
    if tuple(shape) != expected:
        raise DataError(f"label volume: shape {tuple(shape)} does not match the CT series "
                        f"(rows, columns, slices) = {expected}")


def pixel_to_patient(points_row_col: np.ndarray, dataset: Dataset) -> np.ndarray:
    """Pixel coordinates ``[n, 2]`` as (row, column), fractional allowed, → patient coordinates ``[n, 3]`` in mm.

    DICOM PS3.3 C.7.6.2.1.1: P = S + X·Δc·column + Y·Δr·row, with X/Y the row/column direction cosines of
    ImageOrientationPatient, S its ImagePositionPatient (centre of the first pixel) and PixelSpacing = (Δr, Δc).
    """
    orientation = _floats(dataset, "ImageOrientationPatient", 6, None)
    origin = _floats(dataset, "ImagePositionPatient", 3, None)
    row_spacing, column_spacing = _floats(dataset, "PixelSpacing", 2, None)
    points = np.asarray(points_row_col, dtype=np.float64).reshape(-1, 2)
    return (origin[None, :] + np.outer(points[:, 1] * column_spacing, orientation[:3])
            + np.outer(points[:, 0] * row_spacing, orientation[3:]))
