"""Finding cases: a KiTS-layout folder, or a CSV/JSON list of image/label files.

Only paths are collected here; nothing is read, so listing a large dataset is instant and a typo fails before
any training starts.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DataError
from .nifti import case_id_from_path

__all__ = ["CasePaths", "discover_cases"]

logger = logging.getLogger(__name__)

_KITS_IMAGE = ("imaging.nii.gz", "imaging.nii")
_KITS_LABEL = ("segmentation.nii.gz", "segmentation.nii")


@dataclass
class CasePaths:
    """Where one case's files are; ``label`` is None for unlabelled (prediction-only) cases."""

    case_id: str
    image: Path
    label: Path | None


def _pick_one(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The single existing file among ``names`` in ``folder``; both ``.nii`` and ``.nii.gz`` is ambiguous."""
    found = [folder / name for name in names if (folder / name).is_file()]
    if len(found) > 1:
        raise DataError(f"{folder}: both {found[0].name} and {found[1].name} exist; keep one")
    return found[0] if found else None


def _discover_kits(root: Path) -> list[CasePaths]:
    cases = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        image = _pick_one(folder, _KITS_IMAGE)
        if image is None:
            logger.debug("skipping %s: no imaging.nii(.gz)", folder)
            continue
        cases.append(CasePaths(case_id=folder.name, image=image, label=_pick_one(folder, _KITS_LABEL)))
    if not cases:
        raise DataError(f"{root}: no case folders with imaging.nii.gz (KiTS layout case_XXXXX/imaging.nii.gz)")
    return cases


def _resolve(list_file: Path, where: str, value: Any, column: str, required: bool) -> Path | None:
    """A listed path, resolved against the list file's folder and checked to exist."""
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise DataError(f"{list_file}: {where}: missing '{column}'")
        return None
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = list_file.parent / path
    if not path.is_file():
        raise DataError(f"{list_file}: {where}: {column} file {path} does not exist")
    return path


def _entry_to_case(list_file: Path, where: str, entry: dict[str, Any]) -> CasePaths:
    image = _resolve(list_file, where, entry.get("image"), "image", required=True)
    assert image is not None
    label = _resolve(list_file, where, entry.get("label"), "label", required=False)
    raw_id = entry.get("case_id")
    case_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else case_id_from_path(image)
    return CasePaths(case_id=case_id, image=image, label=label)


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
    try:
        entries = json.loads(list_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{list_file}: unreadable ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{list_file}: malformed JSON ({exc})") from exc
    if not isinstance(entries, list):
        raise DataError(f"{list_file}: expected a JSON list of {{\"image\": ..., \"label\": ...}} objects")
    cases = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DataError(f"{list_file}: entry {i}: expected an object with 'image' and 'label', got {entry!r}")
        cases.append(_entry_to_case(list_file, f"entry {i}", entry))
    return cases


def _check_unique(cases: list[CasePaths], source: Path) -> None:
    seen: set[str] = set()
    for case in cases:
        if case.case_id in seen:
            raise DataError(f"{source}: duplicate case id {case.case_id!r}")
        seen.add(case.case_id)


def discover_cases(source: str | Path) -> list[CasePaths]:
    """List the cases in a KiTS-layout folder, or in a ``.csv``/``.json`` case list.

    A folder yields its ``*/imaging.nii(.gz)`` cases sorted by folder name (``segmentation.nii(.gz)`` optional);
    a list keeps its own order, resolves relative paths against its own folder, and names each case by its
    ``case_id`` or else by the image file name.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise DataError(f"{source}: no such file or directory")
    if source.is_dir():
        cases = _discover_kits(source)
    elif source.suffix.lower() == ".csv":
        cases = _read_csv(source)
    elif source.suffix.lower() == ".json":
        cases = _read_json(source)
    else:
        raise DataError(f"{source}: unsupported case source (expected a KiTS folder, a .csv or a .json list)")
    if not cases:
        raise DataError(f"{source}: no cases listed")
    _check_unique(cases, source)
    unlabelled = sum(case.label is None for case in cases)
    logger.info("found %d cases in %s (%d without labels)", len(cases), source, unlabelled)
    return cases
