"""A folder of patient folders, each holding a DICOM CT series and an RTSTRUCT (any names, any nesting).

One case per patient folder: the image is the folder (the CT series the RTSTRUCT refers to is picked when it is
read, see ``dicom.case``), the label its one RTSTRUCT. Discovery reads file meta headers only (a few ms per
patient), never pixel data.

Privacy: a case is named after its folder, unless the folder name holds the patient's DICOM PatientID or
PatientName (PACS exports and the shared STS set name folders so); then it is named ``case-<hash>`` from its study
and series UIDs, and the log says so without the name. Nothing of the patient module is logged or returned.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.filereader import read_file_meta_info
from pydicom.uid import RTStructureSetStorage

from ..dicom.scan import is_dicom_file, list_files
from ..errors import DataError
from .base import CasePaths, DatasetInfo

__all__ = ["PatientFiles", "hashed_case_id", "matches", "patient_files", "private_case_id", "read"]

logger = logging.getLogger(__name__)

_IDENTITY_TAGS = ["PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "Modality"]
_MIN_NAME_PART = 3  # name components shorter than this ("Li", initials) are too common to treat as identifying


@dataclass
class PatientFiles:
    """The DICOM files below a patient folder, split into RTSTRUCTs and the rest (images, others)."""

    folder: Path
    rtstructs: list[Path]
    others: list[Path]


def _is_rtstruct_file(path: Path) -> bool:
    """By the file meta's SOP class (a few hundred bytes read); files without meta by their own header."""
    try:
        meta = read_file_meta_info(path)
        sop_class = meta.get("MediaStorageSOPClassUID")
        if sop_class:
            return sop_class == RTStructureSetStorage
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"])
        return ds.get("SOPClassUID") == RTStructureSetStorage or str(ds.get("Modality", "")).upper() == "RTSTRUCT"
    except Exception:  # noqa: BLE001 - a broken file is reported (named) when the case is read, not here
        return False


def patient_files(folder: Path) -> PatientFiles:
    """Every DICOM file below ``folder`` (following links, skipping hidden ones), RTSTRUCTs apart."""
    files = [path for path in list_files(folder) if is_dicom_file(path)]
    rtstructs = [path for path in files if _is_rtstruct_file(path)]
    others = set(files) - set(rtstructs)
    return PatientFiles(folder, rtstructs, [path for path in files if path in others])


def _identity(files: list[Path]) -> dict[str, str] | None:
    """PatientID, PatientName and study/series UIDs of the first readable file, or None when none reads."""
    for path in files:
        try:
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True, specific_tags=_IDENTITY_TAGS)
        except Exception:  # noqa: BLE001 - reported when the case is read
            continue
        if ds.get("StudyInstanceUID") or ds.get("SeriesInstanceUID"):
            return {tag: str(ds.get(tag, "") or "") for tag in _IDENTITY_TAGS}
    return None


def _identifying_texts(identity: dict[str, str]) -> set[str]:
    """PatientID, the full PatientName, and its parts long enough to identify (``Doe^John`` → doe^john, doe, john)."""
    texts = {identity["PatientID"].strip().lower(), identity["PatientName"].strip().lower()}
    for part in identity["PatientName"].replace("=", "^").split("^"):
        for word in part.replace(",", " ").split():
            if len(word) >= _MIN_NAME_PART:
                texts.add(word.strip().lower())
    texts.discard("")
    return texts


def hashed_case_id(identity: dict[str, str]) -> str:
    """``case-<8 hex>`` from the study and series UIDs: stable across runs, and says nothing about the patient."""
    key = f"{identity['StudyInstanceUID']}|{identity['SeriesInstanceUID']}"
    return f"case-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:8]}"


def private_case_id(folder: Path, case_id: str, files: list[Path] | None = None) -> str:
    """``case_id`` unless it holds the patient's PatientID or PatientName; then a hash of the study/series UIDs.

    ``files``: the folder's DICOM files, images first (found again when not given).
    """
    if files is None:
        found = patient_files(folder)
        files = found.others + found.rtstructs
    identity = _identity(files)
    if identity is None:
        return case_id  # nothing readable: the case fails its check with the file named
    lowered = case_id.lower()
    if not any(text in lowered for text in _identifying_texts(identity)):
        return case_id
    hashed = hashed_case_id(identity)
    logger.debug("case %s: named by a hash (its folder name holds the patient's PatientID or PatientName)", hashed)
    return hashed


def _subfolders(source: Path) -> list[Path]:
    return sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))


def _holds_dicom(folder: Path) -> bool:
    return any(is_dicom_file(path) for path in list_files(folder))


def matches(source: Path) -> bool:
    """A folder some subfolder of which holds DICOM files (the patient folders)."""
    return source.is_dir() and any(_holds_dicom(folder) for folder in _subfolders(source))


def _case(folder: Path) -> CasePaths | None:
    found = patient_files(folder)
    if not found.rtstructs and not found.others:
        logger.debug("skipping %s: no DICOM files", folder)
        return None
    if len(found.rtstructs) > 1:
        names = ", ".join(str(p.relative_to(folder)) for p in found.rtstructs)
        raise DataError(f"{folder}: {len(found.rtstructs)} RTSTRUCT files ({names}); keep one per patient folder, "
                        "or list image folders and RTSTRUCT files as pairs in a CSV")
    case_id = private_case_id(folder, folder.name, found.others + found.rtstructs)
    label = found.rtstructs[0] if found.rtstructs else None
    return CasePaths(case_id=case_id, image=folder, label=label, origin=str(folder))


def read(source: Path) -> DatasetInfo:
    """One case per patient folder holding DICOM files, sorted by folder name."""
    folders = _subfolders(source)
    cases = [case for case in (_case(folder) for folder in folders) if case is not None]
    if not cases:
        raise DataError(f"{source}: no patient folders with DICOM files")
    hashed = sum(case.case_id != case.image.name for case in cases)
    if hashed:
        logger.info("%d of %d cases are named case-<hash of study and series UIDs>: their folder names hold the "
                    "patient's DICOM PatientID or PatientName", hashed, len(cases))
    return DatasetInfo(source, "dicom", cases, description="folder of DICOM patient folders")
