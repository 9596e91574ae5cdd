"""RTSTRUCT contours → a label volume on a CT series' grid, placed by geometry.

Each contour goes on the slice its points lie on: the points are mapped through the CT's inverse affine and the
nearest slice index is taken (within a quarter slice), so contours land where they were drawn even when their
ContourImageSequence points at SOPInstanceUIDs that are not in the series (cropped or re-exported data, like the
shared STS set; rt-utils gives empty masks there). Polygons are filled with the even-odd rule on pixel centres,
over all contours of a structure on a slice together, so inner contours cut holes as drawn.

Overlaps between classes follow ``structures.py``: the higher class index wins.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from ..errors import DataError
from .scan import read_header
from .series import CTVolume
from .structures import StructureMap

__all__ = ["StructureReport", "even_odd_fill", "read_rtstruct", "rtstruct_frame_of_reference", "rtstruct_labels"]

logger = logging.getLogger(__name__)

SLICE_TOL = 0.25  # a contour may sit this fraction of the slice step off a slice and still belong to it
_CLOSED = {"CLOSED_PLANAR", "CLOSED_PLANAR_XOR"}
_CONTOUR_DATA = Tag(0x3006, 0x0050)


@dataclass
class StructureReport:
    """What ``rtstruct_labels`` did: which structures went to which class, and what was missing or skipped.

    ``absent_classes``: foreground classes no structure of this patient filled, so evaluation reports NaN for
    them here instead of a Dice of 0.
    """

    rtstruct: Path
    structures: dict[str, int] = field(default_factory=dict)  # ROI name -> class index, the ones rasterised
    voxels: dict[str, int] = field(default_factory=dict)  # ROI name -> voxels it covers (before overlaps)
    missing: list[str] = field(default_factory=list)  # rules (as written) no structure here satisfied
    absent_classes: list[int] = field(default_factory=list)
    skipped_contours: dict[str, dict[str, int]] = field(default_factory=dict)  # ROI -> reason -> count
    not_asked: list[str] = field(default_factory=list)  # ROI names in the file that no rule matched
    warnings: list[str] = field(default_factory=list)


def read_rtstruct(path: str | Path) -> Dataset:
    """Parse an RTSTRUCT file; refuse anything else with its name."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: RTSTRUCT file not found")
    ds = read_header(path)
    if str(ds.get("Modality", "")).upper() != "RTSTRUCT" or "StructureSetROISequence" not in ds:
        raise DataError(f"{path}: not an RTSTRUCT (modality {ds.get('Modality', 'missing')})")
    return ds


def rtstruct_frame_of_reference(ds: Dataset) -> set[str]:
    """Frames of reference the structure set is drawn in (per ROI, else the referenced-frame sequence)."""
    uids = {str(roi.get("ReferencedFrameOfReferenceUID", "") or "") for roi in ds.StructureSetROISequence}
    uids.discard("")
    if not uids:
        uids = {str(item.get("FrameOfReferenceUID", "")) for item in ds.get("ReferencedFrameOfReferenceSequence", [])}
        uids.discard("")
    if not uids and ds.get("FrameOfReferenceUID"):
        uids = {str(ds.FrameOfReferenceUID)}
    return uids


def even_odd_fill(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Pixel centres ``(i, j)`` inside ``polygons`` (each ``(n, 2)`` in voxel coordinates) by the even-odd rule.

    A scanline fill: along each pixel-centre row ``j`` an edge crosses when exactly one end lies above ``j``
    (half-open, so a vertex on the line counts once); pixel ``i`` is inside when an odd number of crossings lie at
    ``x > i`` (the crossing-number test). All polygons are counted together, so a nested one is a hole.
    """
    width, height = shape
    mask = np.zeros(shape, dtype=bool)
    starts = np.concatenate(polygons)
    ends = np.concatenate([np.roll(p, -1, axis=0) for p in polygons])
    j_low = max(int(np.ceil(starts[:, 1].min())), 0)
    j_high = min(int(np.floor(starts[:, 1].max())), height - 1)
    if j_high < j_low:
        return mask
    rows = np.arange(j_low, j_high + 1, dtype=np.float64)[:, None]  # (R, 1)
    y0, y1 = starts[:, 1][None, :], ends[:, 1][None, :]
    crossing = (y0 > rows) != (y1 > rows)  # (R, E)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = starts[:, 0][None, :] + (rows - y0) * (ends[:, 0] - starts[:, 0])[None, :] / (y1 - y0)
    r_index, e_index = np.nonzero(crossing)
    # A crossing at x counts for every pixel i < x, i.e. i < ceil(x): toggle the parity at 0 and at ceil(x).
    cut = np.clip(np.ceil(x_cross[r_index, e_index]), 0, width).astype(np.int64)
    toggles = np.zeros((rows.shape[0], width + 1), dtype=np.int64)
    np.add.at(toggles, (r_index, np.zeros_like(cut)), 1)
    np.add.at(toggles, (r_index, cut), 1)
    inside = (np.cumsum(toggles, axis=1)[:, :width] % 2).astype(bool)
    mask[:, j_low:j_high + 1] = inside.T
    return mask


def _contour_points(item: Dataset, path: Path, name: str) -> np.ndarray:
    """ContourData as ``(n, 3)`` LPS points.

    Parsed from the raw bytes when pydicom has not converted them yet: its per-value DS objects cost about 1 s
    for a large structure set, the numpy parse a few ms.
    """
    raw = item.get_item(_CONTOUR_DATA) if _CONTOUR_DATA in item else None
    try:
        if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes):
            values = np.array(raw.value.split(b"\\"), dtype=np.float64) if raw.value.strip(b" \0") else np.empty(0)
        else:
            values = np.asarray(item.get("ContourData", []), dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{path}: a contour of {name!r} has non-numeric ContourData") from exc
    if values.size % 3:
        raise DataError(f"{path}: a contour of {name!r} has {values.size} coordinates, not a multiple of 3")
    return values.reshape(-1, 3)


def _structure_mask(contours: list[Dataset], ct: CTVolume, path: Path, name: str) -> tuple[np.ndarray, Counter]:
    """One structure's voxels; contours off the slices, outside the volume or not closed are counted, not used."""
    skipped: Counter = Counter()
    per_slice: dict[int, list[np.ndarray]] = defaultdict(list)
    step = ct.spacing[2]
    for item in contours:
        kind = str(item.get("ContourGeometricType", "CLOSED_PLANAR")).upper()
        points = _contour_points(item, path, name)
        if kind not in _CLOSED or len(points) < 3:
            skipped["not a closed polygon"] += 1
            continue
        voxel = ct.lps_to_voxel(points)
        k = int(np.rint(voxel[:, 2].mean()))
        if np.abs(voxel[:, 2] - k).max() > SLICE_TOL:
            skipped[f"off the slices (by up to {np.abs(voxel[:, 2] - k).max() * step:.3g} mm)"] += 1
            continue
        if not 0 <= k < ct.shape[2]:
            skipped["outside the CT volume"] += 1
            continue
        per_slice[k].append(voxel[:, :2])
    mask = np.zeros(ct.shape, dtype=bool)
    for k, polygons in per_slice.items():
        mask[:, :, k] = even_odd_fill(polygons, ct.shape[:2])
    return mask, skipped


def _warn(report: StructureReport, message: str) -> None:
    report.warnings.append(message)
    logger.warning(message)


def _check_frame_of_reference(ds: Dataset, path: Path, ct: CTVolume, asked: set[int]) -> None:
    """The asked structures must be drawn in the CT's frame (others, e.g. on a registered MR, do not matter)."""
    frames = {str(roi.get("ReferencedFrameOfReferenceUID", "") or "") for roi in ds.StructureSetROISequence
              if int(roi.ROINumber) in asked} - {""}
    frames = frames or rtstruct_frame_of_reference(ds)
    if frames and frames != {ct.frame_of_reference_uid}:
        raise DataError(f"{path}: frame of reference {', '.join(sorted(frames))} is not the CT series' "
                        f"({ct.frame_of_reference_uid or 'none'}); drawn on another scan")


def rtstruct_labels(rtstruct_path: str | Path, ct: CTVolume, mapping: StructureMap,
                    num_classes: int | None = None) -> tuple[np.ndarray, StructureReport]:
    """Rasterise the structures ``mapping`` asks for onto ``ct``'s grid: ``(uint8 labels [i, j, k], report)``.

    Refuses (one line naming the RTSTRUCT): another frame of reference than the CT's, or none of the asked
    structures present (listing the names it has). A rule with no structure in this patient is a warning, and the
    report lists the classes left empty, so evaluation can give NaN for them.
    """
    path = Path(rtstruct_path)
    num_classes = mapping.num_classes if num_classes is None else num_classes
    if num_classes != mapping.num_classes or num_classes > 256:
        raise ValueError(f"num_classes {num_classes} does not fit the structure map's {mapping.num_classes} classes")
    ds = read_rtstruct(path)
    names = {int(roi.ROINumber): str(roi.get("ROIName", "")).strip() for roi in ds.StructureSetROISequence}
    contours = {int(item.ReferencedROINumber): list(item.get("ContourSequence", []))
                for item in ds.get("ROIContourSequence", [])}
    asked = {number: mapping.rule_for(name) for number, name in names.items()}
    asked = {number: rule for number, rule in asked.items() if rule is not None}
    if not asked:
        raise DataError(f"{path}: none of the structures asked for ({mapping.spec}) is in this RTSTRUCT; it has: "
                        f"{', '.join(sorted(names.values())) or 'no structures'}")
    _check_frame_of_reference(ds, path, ct, set(asked))

    report = StructureReport(rtstruct=path, not_asked=sorted(n for k, n in names.items() if k not in asked))
    labels = np.zeros(ct.shape, dtype=np.uint8)
    filled_rules = set()
    # Lower class indices first, so a higher class written later wins where structures overlap.
    for number, rule in sorted(asked.items(), key=lambda item: (item[1].class_index, item[0])):
        name = names[number]
        mask, skipped = _structure_mask(contours.get(number, []), ct, path, name)
        if skipped:
            report.skipped_contours[name] = dict(skipped)
            _warn(report, f"{path}: {name!r}: skipped " + ", ".join(f"{n} contour(s) {why}"
                                                                     for why, n in skipped.items()))
        voxels = int(mask.sum())
        if voxels == 0:
            _warn(report, f"{path}: {name!r} has no contour on this CT series; treated as absent")
            continue
        labels[mask] = rule.class_index
        report.structures[name], report.voxels[name] = rule.class_index, voxels
        filled_rules.add(rule)
    if not report.structures:
        raise DataError(f"{path}: the structures asked for ({', '.join(names[n] for n in asked)}) have no contour on "
                        f"the CT series {ct.series_instance_uid}; wrong series?")
    report.missing = [rule.text for rule in mapping.rules if rule not in filled_rules]
    for text in report.missing:
        _warn(report, f"{path}: no structure matching {text!r} in this patient")
    present = set(report.structures.values())
    report.absent_classes = [c for c in range(1, num_classes) if c not in present]
    return labels, report
