"""Find the DICOM files below a folder and group their headers by series.

A patient folder from a planning system or PACS holds files with any names (or none), in any order, mixed with
other series (scouts, MR, dose) and non-DICOM files. A file counts as DICOM when it carries the ``DICM`` marker
(Part 10); a file named ``*.dcm`` without it is still tried, and one that fails to parse is refused with its name
rather than skipped, so a truncated file never silently becomes a missing slice.

Messages name files, series UIDs and counts only: headers hold patient names and IDs (and series descriptions
often repeat them), which must never reach an error or a log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import MediaStorageDirectoryStorage, RTStructureSetStorage

from ..errors import DataError

__all__ = ["DicomScan", "SeriesFiles", "describe_series", "is_dicom_file", "list_files", "read_header", "scan_dicom"]

logger = logging.getLogger(__name__)

_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
_PREAMBLE = 128
_DEFER_BYTES = 1024
_PIXEL_DATA = 0x7FE00010
_UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass
class SeriesFiles:
    """The headers (pixel data not read) of the files of one SeriesInstanceUID."""

    series_instance_uid: str
    modality: str
    headers: list[tuple[Path, Dataset]] = field(default_factory=list, repr=False)

    @property
    def frame_of_reference_uids(self) -> set[str]:
        return {str(ds.get("FrameOfReferenceUID", "") or "") for _, ds in self.headers}

    @property
    def series_number(self) -> str:
        return str(self.headers[0][1].get("SeriesNumber", "") or "") if self.headers else ""


@dataclass
class DicomScan:
    """What a folder holds: image series by SeriesInstanceUID and the RTSTRUCT files."""

    root: Path
    series: dict[str, SeriesFiles]
    rtstructs: list[Path]

    def ct_series(self) -> list[SeriesFiles]:
        return [s for s in self.series.values() if s.modality == "CT"]


def describe_series(series: Iterable[SeriesFiles]) -> str:
    """``UID (modality, series N, K files)`` for each series: enough to choose one, and no patient data."""
    parts = []
    for s in series:
        number = f"series {s.series_number}, " if s.series_number else ""
        parts.append(f"{s.series_instance_uid} ({s.modality or 'no modality'}, {number}{len(s.headers)} files)")
    return "; ".join(parts)


def is_dicom_file(path: Path) -> bool:
    """True when ``path`` carries the Part 10 ``DICM`` marker, or is named like a DICOM file."""
    if path.suffix.lower() in _DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            head = handle.read(_PREAMBLE + 4)
    except OSError:
        return False
    return head[_PREAMBLE:_PREAMBLE + 4] == b"DICM"


def read_header(path: Path, *, pixels: bool = False) -> Dataset:
    """Parse one DICOM file; a file that does not parse, or is cut short, is refused with its name (never skipped).

    Without ``pixels``, values over 1 KB (pixel data) are deferred, not read. pydicom reads a truncated file
    without complaint (a value cut short just comes out shorter), so every top-level element must end inside the
    file. The parser's own message is left out on purpose: it can quote element values, patient data included.
    """
    try:
        size = path.stat().st_size
        ds = pydicom.dcmread(path, force=True, defer_size=None if pixels else _DEFER_BYTES)
    except Exception as exc:  # noqa: BLE001 - any parse failure of a user file is bad input
        raise DataError(f"{path}: unreadable DICOM file (truncated or corrupt: {type(exc).__name__})") from exc
    for element in ds.elements():
        if (isinstance(element, RawDataElement) and element.length != _UNDEFINED_LENGTH
                and element.value_tell is not None and element.value_tell + element.length > size):
            raise DataError(f"{path}: truncated DICOM file (element {element.tag} runs past the end of the file)")
    return ds


def _is_rtstruct(ds: Dataset) -> bool:
    return str(ds.get("Modality", "")).upper() == "RTSTRUCT" or ds.get("SOPClassUID", "") == RTStructureSetStorage


def list_files(root: Path) -> list[Path]:
    """Every non-hidden file below ``root``, following linked folders (each real folder once), in name order."""
    if root.is_file():
        return [root]
    files, seen = [], set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link loop, or the same folder linked twice
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        files += [Path(folder) / n for n in names if not n.startswith(".") and (Path(folder) / n).is_file()]
    return sorted(files)


def scan_dicom(source: Path | Sequence[Path], where: Path | None = None) -> DicomScan:
    """Read the headers of every DICOM file in ``source`` (a folder, searched recursively, or a list of files).

    ``where`` names the input in messages (default: the folder). Files without a series UID (DICOMDIR) and
    non-DICOM files are skipped; a DICOM-looking file that does not parse is refused.
    """
    if isinstance(source, (str, Path)):
        root = Path(source)
        if not root.exists():
            raise DataError(f"{root}: not found")
        files = list_files(root)
    else:
        files = [Path(p) for p in source]
        root = files[0].parent if files else Path(".")
        for path in files:
            if not path.is_file():
                raise DataError(f"{path}: not found")
    where = where or root
    series: dict[str, SeriesFiles] = {}
    rtstructs: list[Path] = []
    skipped = 0
    for path in files:
        if not is_dicom_file(path):
            skipped += 1
            continue
        ds = read_header(path)
        if "SOPClassUID" not in ds and "Modality" not in ds:
            raise DataError(f"{path}: not a DICOM file (no SOP class or modality; truncated?)")
        if "Rows" in ds and _PIXEL_DATA not in ds:
            raise DataError(f"{path}: image without pixel data (truncated?)")
        if _is_rtstruct(ds):
            rtstructs.append(path)
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        if not uid:
            if ds.get("SOPClassUID", "") == MediaStorageDirectoryStorage:
                skipped += 1  # a DICOMDIR index
                continue
            raise DataError(f"{path}: no SeriesInstanceUID (truncated?)")
        entry = series.setdefault(uid, SeriesFiles(uid, str(ds.get("Modality", "") or "").upper()))
        entry.headers.append((path, ds))
    if not series and not rtstructs:
        raise DataError(f"{where}: no DICOM files found")
    logger.debug("%s: %d series, %d RTSTRUCT, %d non-DICOM files skipped", where, len(series), len(rtstructs), skipped)
    return DicomScan(root=root, series=series, rtstructs=rtstructs)
