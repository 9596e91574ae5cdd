"""One radiotherapy case: a CT series and the RTSTRUCT drawn on it → (CT volume, labels, report).

A patient folder holds both anywhere below it (``CT/image`` + ``CT/mask``, or flat, any file names), possibly
with other series (scouts, a second CT, MR). The CT series is the one the RTSTRUCT refers to: its referenced
SeriesInstanceUID when that series is here, else the one CT series in the RTSTRUCT's frame of reference.
An explicit (image folder, RTSTRUCT file) pair is read the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from ..errors import DataError
from .rtstruct import StructureReport, read_rtstruct, rtstruct_frame_of_reference, rtstruct_labels
from .scan import DicomScan, SeriesFiles, describe_series, scan_dicom
from .series import CTVolume, ct_volume_from_series
from .structures import StructureMap, structure_map

__all__ = ["DicomCase", "find_rtstruct", "read_dicom_case", "referenced_ct_series"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class DicomCase:
    """A CT volume, its labels on the same ``[i, j, k]`` grid, and what the RTSTRUCT reading reported."""

    case_id: str  # the folder name, never the PatientID
    ct: CTVolume
    labels: np.ndarray = field(repr=False)  # uint8 class indices
    report: StructureReport = field(repr=False)


def _referenced_series_uids(ds: Dataset) -> set[str]:
    uids = set()
    for frame in ds.get("ReferencedFrameOfReferenceSequence", []):
        for study in frame.get("RTReferencedStudySequence", []):
            for series in study.get("RTReferencedSeriesSequence", []):
                if series.get("SeriesInstanceUID"):
                    uids.add(str(series.SeriesInstanceUID))
    return uids


def referenced_ct_series(scan: DicomScan, rtstruct_path: Path, where: Path) -> SeriesFiles:
    """The CT series an RTSTRUCT was drawn on: by referenced series UID, else by frame of reference."""
    ds = read_rtstruct(rtstruct_path)
    ct = scan.ct_series()
    if not ct:
        found = describe_series(scan.series.values()) or "no image series"
        raise DataError(f"{where}: no CT series for {rtstruct_path.name} (found: {found})")
    by_uid = [s for s in ct if s.series_instance_uid in _referenced_series_uids(ds)]
    if len(by_uid) == 1:
        return by_uid[0]
    frames = rtstruct_frame_of_reference(ds)
    by_frame = [s for s in ct if s.frame_of_reference_uids & frames]
    if len(by_frame) == 1:
        return by_frame[0]
    if not by_frame:
        if len(ct) == 1 and not frames:  # an RTSTRUCT without any frame of reference: trust the only CT
            return ct[0]
        raise DataError(f"{rtstruct_path}: frame of reference {', '.join(sorted(frames)) or 'missing'} is not that "
                        f"of any CT series in {where} ({describe_series(ct)})")
    raise DataError(f"{where}: {len(by_frame)} CT series share the frame of reference of {rtstruct_path.name} "
                    f"and it names none of them; give the image folder explicitly: {describe_series(by_frame)}")


def find_rtstruct(scan: DicomScan, where: Path) -> Path:
    """The one RTSTRUCT below a case folder; none or several is a one-line refusal."""
    if not scan.rtstructs:
        raise DataError(f"{where}: no RTSTRUCT file found (a case needs a CT series and an RTSTRUCT)")
    if len(scan.rtstructs) > 1:
        names = ", ".join(str(p.relative_to(scan.root)) if p.is_relative_to(scan.root) else str(p)
                          for p in scan.rtstructs)
        raise DataError(f"{where}: {len(scan.rtstructs)} RTSTRUCT files ({names}); pass the image folder and one "
                        "RTSTRUCT file as a pair")
    return scan.rtstructs[0]


def read_dicom_case(folder: str | Path, structures: StructureMap | str | Path | Mapping[str, object],
                    classes: Sequence[str] | None = None, *, rtstruct: str | Path | None = None,
                    case_id: str | None = None) -> DicomCase:
    """Read a case folder (CT series + RTSTRUCT anywhere below) or an (image folder, ``rtstruct``) pair.

    ``structures`` is a parsed :class:`StructureMap` or a ``--structures`` spec (then ``classes`` is needed).
    The case is named after the folder (``case_id`` to override), never after the PatientID.
    """
    folder = Path(folder)
    if isinstance(structures, StructureMap):
        mapping = structures
    else:
        if classes is None:
            raise ValueError("classes are needed to parse a --structures spec")
        mapping = structure_map(structures, classes)
    scan = scan_dicom(folder)
    rtstruct_path = Path(rtstruct) if rtstruct is not None else find_rtstruct(scan, folder)
    ct = ct_volume_from_series(referenced_ct_series(scan, rtstruct_path, folder), folder)
    labels, report = rtstruct_labels(rtstruct_path, ct, mapping)
    name = case_id or (folder.name if folder.is_dir() else folder.stem)
    logger.debug("%s: case %s, structures %s", folder, name,
                 ", ".join(f"{k}->{v}" for k, v in report.structures.items()))
    return DicomCase(case_id=name, ct=ct, labels=labels, report=report)
