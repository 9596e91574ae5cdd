"""A CSV or JSON list of cases: ``image`` (an image file or a DICOM CT folder), ``label`` (an image file or an
RTSTRUCT), optional ``case_id``. Relative paths are resolved against the list's own folder; the list's order is kept.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..jsonfile import read_json
from ..nifti import case_id_from_path
from .base import CasePaths, DatasetInfo, check_case_id
from .dicom import private_case_id

__all__ = ["matches", "read"]


def matches(source: Path) -> bool:
    """A ``.csv`` or ``.json`` file (a ``dataset.json`` of nnU-Net or MSD is recognised before this)."""
    return source.is_file() and source.suffix.lower() in (".csv", ".json")


def _resolve(list_file: Path, where: str, value: Any, column: str, required: bool) -> Path | None:
    """A listed path, resolved against the list file's folder and checked to exist (an image may be a folder)."""
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise DataError(f"{list_file}: {where}: missing '{column}'")
        return None
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = list_file.parent / path
    if column == "image" and path.is_dir():
        return path  # a DICOM CT folder
    if not path.is_file():
        raise DataError(f"{list_file}: {where}: {column} file {path} does not exist")
    return path


def _entry_to_case(list_file: Path, where: str, entry: dict[str, Any]) -> CasePaths:
    image = _resolve(list_file, where, entry.get("image"), "image", required=True)
    assert image is not None
    label = _resolve(list_file, where, entry.get("label"), "label", required=False)
    raw_id = entry.get("case_id")
    case_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else case_id_from_path(image)
    check_case_id(case_id, f"{list_file}: {where}")
    if image.is_dir():
        case_id = private_case_id(image, case_id)
    return CasePaths(case_id=case_id, image=image, label=label, origin=f"{list_file}: {where}")


def _read_csv(list_file: Path) -> list[CasePaths]:
    try:
        with list_file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            if "image" not in columns:
                raise DataError(f"{list_file}: CSV needs an 'image' column (columns: image,label[,case_id]), "
                                f"got {columns}")
            rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{list_file}: unreadable CSV ({exc})") from exc
    # Row numbers count the header as line 1, as a spreadsheet shows them.
    return [_entry_to_case(list_file, f"line {i}", row) for i, row in enumerate(rows, start=2)]


def _read_json(list_file: Path) -> list[CasePaths]:
    entries = read_json(list_file)
    if not isinstance(entries, list):
        raise DataError(f"{list_file}: expected a JSON list of {{\"image\": ..., \"label\": ...}} objects")
    cases = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DataError(f"{list_file}: entry {i}: expected an object with 'image' and 'label', got {entry!r}")
        cases.append(_entry_to_case(list_file, f"entry {i}", entry))
    return cases


def read(source: Path) -> DatasetInfo:
    """The listed cases, in the list's order, each named by its ``case_id`` or else by its image's name."""
    if source.suffix.lower() == ".csv":
        return DatasetInfo(source, "list", _read_csv(source), description="CSV case list")
    return DatasetInfo(source, "list", _read_json(source), description="JSON case list")
