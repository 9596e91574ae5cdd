"""A DICOM CT series as one HU volume with its geometry, built with pydicom and our own geometry checks.

Why pydicom and not SimpleITK's series reader: we must keep each slice's SOPInstanceUID and position (an RTSTRUCT
written back refers to them), and refuse a bad stack with one line naming the file and the problem. SimpleITK's
reader sorts the same way (along the slice normal) but only warns about uneven spacing, resamples nothing, and
fails with GDCM messages that name neither the file nor the cause.

Conventions:

- The volume is ``hu[i, j, k]``: ``i`` the column index (along the first ImageOrientationPatient vector), ``j`` the
  row index (along the second), ``k`` the slice index, increasing along the slice normal ``row × col``. This is the
  order ITK and dcm2niix write to NIfTI.
- ``affine_lps`` maps ``(i, j, k, 1)`` to DICOM patient coordinates (LPS, mm): the geometry contours and written
  RTSTRUCTs use. :meth:`CTVolume.to_nifti_affine` gives the same map in NIfTI's RAS world (x and y negated); the
  NIfTI path then reorients to RAS canonical as for any NIfTI file.
- PatientPosition (HFS/FFS/prone) is never used to flip anything: ImagePositionPatient/Orientation already say
  where every voxel is, for every position.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from ..errors import DataError
from .scan import DicomScan, SeriesFiles, describe_series, read_header, scan_dicom

__all__ = ["CTVolume", "SliceRef", "choose_ct_series", "ct_volume_from_series", "read_ct_series"]

logger = logging.getLogger(__name__)

ORIENTATION_TOL = 1e-3  # direction cosines: unit length, orthogonal, equal across slices
SPACING_REL_TOL = 0.01  # slice steps may differ by 1 % (rounded positions), more means missing slices
SPACING_ABS_TOL_MM = 0.005
SHEAR_TOL_PIXELS = 0.1  # slice origins may stray this far (in pixels) off the normal line before it is a tilt
_PIXEL_DATA = 0x7FE00010
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_REQUIRED = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns")


@dataclass(frozen=True)
class SliceRef:
    """One slice of the series, in volume order: what an RTSTRUCT or SEG written back must refer to."""

    sop_instance_uid: str
    sop_class_uid: str
    position: tuple[float, float, float]  # ImagePositionPatient, LPS mm
    path: Path


@dataclass(frozen=True, eq=False)
class CTVolume:
    """A CT series as float32 HU ``hu[i, j, k]`` (column, row, slice) with its DICOM geometry and identity."""

    hu: np.ndarray = field(repr=False)
    affine_lps: np.ndarray = field(repr=False)  # (i, j, k, 1) -> LPS mm
    slices: tuple[SliceRef, ...] = field(repr=False)
    frame_of_reference_uid: str
    study_instance_uid: str
    series_instance_uid: str
    source: Path
    # Header of the first slice (no pixels): patient/study modules for writing back. Never log it.
    header: Dataset = field(repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.hu.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along i (between columns), j (between rows) and k (between slices)."""
        return tuple(float(v) for v in np.linalg.norm(self.affine_lps[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def slice_normal(self) -> np.ndarray:
        """Unit vector (LPS) along which k increases."""
        return self.affine_lps[:3, 2] / np.linalg.norm(self.affine_lps[:3, 2])

    def to_nifti_affine(self) -> np.ndarray:
        """The voxel-to-world map in NIfTI's RAS convention (same voxels, x and y of the world negated)."""
        return _LPS_TO_RAS @ self.affine_lps

    def to_nifti(self, array: np.ndarray | None = None) -> nib.Nifti1Image:
        """``array`` (default: the HU volume) on this grid as a NIfTI image, e.g. labels for ``convert``."""
        data = self.hu if array is None else array
        if tuple(data.shape[:3]) != self.shape:
            raise ValueError(f"array shape {data.shape} is not the CT grid {self.shape}")
        return nib.Nifti1Image(data, self.to_nifti_affine())

    def lps_to_voxel(self, points: np.ndarray) -> np.ndarray:
        """Continuous (i, j, k) voxel coordinates of LPS points ``(n, 3)``; voxel centres are integers."""
        inverse = np.linalg.inv(self.affine_lps)
        return np.asarray(points, dtype=np.float64) @ inverse[:3, :3].T + inverse[:3, 3]


def _without_pixels(ds: Dataset) -> Dataset:
    """A copy of a slice header without its (deferred) pixel data, to keep in memory with the volume."""
    header = Dataset({tag: ds.get_item(tag) for tag in ds.keys() if tag != _PIXEL_DATA})
    header.file_meta = getattr(ds, "file_meta", Dataset())
    return header


def _floats(ds: Dataset, keyword: str) -> np.ndarray:
    return np.array([float(v) for v in ds[keyword].value], dtype=np.float64)


def _check_slice_header(path: Path, ds: Dataset) -> None:
    missing = [k for k in _REQUIRED if k not in ds or ds[k].value in (None, "")]
    if missing:
        raise DataError(f"{path}: missing {', '.join(missing)} (not an image slice, or truncated)")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise DataError(f"{path}: multi-frame (enhanced) CT is not supported; export the series as single slices")


def _orientation(where: Path, headers: list[tuple[Path, Dataset]]) -> tuple[np.ndarray, np.ndarray]:
    """The common (row, column) direction cosines; refuse non-orthonormal or differing orientations."""
    first_path, first = headers[0]
    iop = _floats(first, "ImageOrientationPatient")
    if iop.size != 6:
        raise DataError(f"{first_path}: ImageOrientationPatient has {iop.size} values, expected 6")
    row, col = iop[:3], iop[3:]
    if (abs(np.linalg.norm(row) - 1) > ORIENTATION_TOL or abs(np.linalg.norm(col) - 1) > ORIENTATION_TOL
            or abs(float(row @ col)) > ORIENTATION_TOL):
        raise DataError(f"{first_path}: ImageOrientationPatient is not two orthogonal unit vectors (oblique shear?)")
    for path, ds in headers[1:]:
        if np.abs(_floats(ds, "ImageOrientationPatient") - iop).max() > ORIENTATION_TOL:
            raise DataError(f"{where}: slices have different ImageOrientationPatient ({first_path.name} vs "
                            f"{path.name}); not one stack")
    return row / np.linalg.norm(row), col / np.linalg.norm(col)


def _same_in_all(where: Path, headers: list[tuple[Path, Dataset]], keyword: str, label: str) -> None:
    first_path, first = headers[0]
    reference = first[keyword].value
    for path, ds in headers[1:]:
        if ds[keyword].value != reference:
            raise DataError(f"{where}: mixed {label} ({first_path.name}: {reference}, {path.name}: "
                            f"{ds[keyword].value}); not one stack")


def _slice_step(where: Path, headers: list[tuple[Path, Dataset]], along: np.ndarray) -> float:
    """The one distance between neighbouring slices; refuse duplicates and uneven (missing-slice) spacing."""
    if len(headers) == 1:
        ds = headers[0][1]
        step = float(ds.get("SpacingBetweenSlices", 0) or ds.get("SliceThickness", 0) or 1.0)
        logger.warning("%s: a single slice; slice spacing taken as %.3g mm", where, step)
        return step
    steps = np.diff(along)
    paths = [p for p, _ in headers]
    if steps.min() <= SPACING_ABS_TOL_MM:
        k = int(np.argmin(steps))
        raise DataError(f"{where}: two slices at the same position ({paths[k].name}, {paths[k + 1].name}); "
                        "two acquisitions in one series?")
    step = float(np.median(steps))
    tolerance = max(SPACING_REL_TOL * step, SPACING_ABS_TOL_MM)
    if np.abs(steps - step).max() > tolerance:
        k = int(np.argmax(np.abs(steps - step)))
        raise DataError(f"{where}: uneven slice spacing ({steps.min():.4g} to {steps.max():.4g} mm, typical "
                        f"{step:.4g} mm, e.g. between {paths[k].name} and {paths[k + 1].name}): missing slices?")
    return float((along[-1] - along[0]) / (len(along) - 1))


def _check_straight_stack(where: Path, positions: np.ndarray, normal: np.ndarray, pixel: float) -> None:
    """Slice origins must lie on a line along the normal; a gantry tilt shows as a shear away from it."""
    offsets = positions - positions[0]
    in_plane = offsets - np.outer(offsets @ normal, normal)
    worst = float(np.linalg.norm(in_plane, axis=1).max())
    if worst > SHEAR_TOL_PIXELS * pixel:
        raise DataError(f"{where}: slice positions drift {worst:.3g} mm across the slice plane (gantry tilt or a "
                        "sheared stack); resample it to an orthogonal grid first")


def _read_slice_hu(path: Path, rows: int, columns: int) -> np.ndarray:
    """Pixel data of one slice in HU (modality LUT: RescaleSlope/Intercept) as float32 ``[i, j]``."""
    ds = read_header(path, pixels=True)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - missing/short pixel data or an unsupported compression
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise DataError(f"{path}: pixel data cannot be read (truncated, or transfer syntax {syntax} needs a "
                        f"decoder: {type(exc).__name__})") from exc
    if pixels.shape != (rows, columns):
        raise DataError(f"{path}: pixel data is {pixels.shape}, header says {rows}x{columns}")
    return np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32).T


def ct_volume_from_series(series: SeriesFiles, where: Path) -> CTVolume:
    """Stack one series' slices along the slice normal after checking it is one straight, evenly spaced stack."""
    if series.modality != "CT":
        raise DataError(f"{where}: series {series.series_instance_uid} is {series.modality or 'of no modality'}, "
                        "not CT")
    headers = list(series.headers)
    for path, ds in headers:
        _check_slice_header(path, ds)
    frames = series.frame_of_reference_uids
    if len(frames) > 1:
        raise DataError(f"{where}: one series in {len(frames)} frames of reference ({', '.join(sorted(frames))}); "
                        "not one stack")
    _same_in_all(where, headers, "Rows", "Rows")
    _same_in_all(where, headers, "Columns", "Columns")
    row, col = _orientation(where, headers)
    normal = np.cross(row, col)
    positions = np.array([_floats(ds, "ImagePositionPatient") for _, ds in headers])
    if positions.shape[1] != 3:
        raise DataError(f"{where}: ImagePositionPatient must have 3 values")
    order = np.argsort(positions @ normal, kind="stable")
    headers = [headers[i] for i in order]
    positions = positions[order]
    spacing = [_floats(ds, "PixelSpacing") for _, ds in headers]
    if any(np.abs(s - spacing[0]).max() > SPACING_ABS_TOL_MM for s in spacing):
        raise DataError(f"{where}: slices have different PixelSpacing; not one stack")
    row_spacing, column_spacing = float(spacing[0][0]), float(spacing[0][1])
    step = _slice_step(where, headers, positions @ normal)
    _check_straight_stack(where, positions, normal, min(row_spacing, column_spacing))

    affine = np.eye(4)
    affine[:3, 0] = row * column_spacing  # i: next column, along the row direction
    affine[:3, 1] = col * row_spacing  # j: next row, along the column direction
    affine[:3, 2] = normal * step
    affine[:3, 3] = positions[0]
    rows, columns = int(headers[0][1].Rows), int(headers[0][1].Columns)
    hu = np.empty((columns, rows, len(headers)), dtype=np.float32)
    for k, (path, _) in enumerate(headers):
        hu[:, :, k] = _read_slice_hu(path, rows, columns)
    first = headers[0][1]
    slices = tuple(SliceRef(str(ds.get("SOPInstanceUID", "")), str(ds.get("SOPClassUID", "")),
                            tuple(float(v) for v in pos), path)  # type: ignore[arg-type]
                   for (path, ds), pos in zip(headers, positions))
    logger.debug("%s: CT series %s, %d slices, %.3g x %.3g x %.3g mm", where, series.series_instance_uid,
                len(slices), column_spacing, row_spacing, step)
    return CTVolume(hu=hu, affine_lps=affine, slices=slices, frame_of_reference_uid=frames.pop(),
                    study_instance_uid=str(first.get("StudyInstanceUID", "")),
                    series_instance_uid=series.series_instance_uid, source=where,
                    header=_without_pixels(first))


def choose_ct_series(scan: DicomScan, where: Path, series_uid: str | None = None) -> SeriesFiles:
    """The series asked for, else the only CT series; otherwise a line listing what is there to choose from."""
    if series_uid is not None:
        if series_uid not in scan.series:
            found = describe_series(scan.series.values()) or "none"
            raise DataError(f"{where}: no series {series_uid}; found: {found}")
        return scan.series[series_uid]
    ct = scan.ct_series()
    if len(ct) == 1:
        return ct[0]
    if not ct:
        found = describe_series(scan.series.values()) or "only RTSTRUCT files"
        raise DataError(f"{where}: no CT series (found: {found})")
    raise DataError(f"{where}: {len(ct)} CT series, choose one by SeriesInstanceUID: {describe_series(ct)}")


def read_ct_series(source: str | Path | Sequence[str | Path], series_uid: str | None = None) -> CTVolume:
    """Read a CT series from a folder (searched recursively; any names and order, other files ignored) or a file list.

    Picks ``series_uid`` if given, else the single CT series. Refuses, with one line: no DICOM, no CT, several CT
    series, a non-CT series asked for, uneven spacing (missing slices), gantry tilt, non-orthogonal or differing
    orientations, two frames of reference, mixed sizes, and truncated or unreadable files (named).
    """
    if isinstance(source, (str, Path)):
        where = Path(source)
        scan = scan_dicom(where)
    else:
        files = [Path(p) for p in source]
        if not files:
            raise DataError("read_ct_series: empty file list")
        where = files[0].parent
        scan = scan_dicom(files, where)
    return ct_volume_from_series(choose_ct_series(scan, where, series_uid), where)
