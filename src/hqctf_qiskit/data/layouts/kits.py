"""The KiTS layout: one folder per case holding ``imaging.nii(.gz)`` and, when labelled, ``segmentation.nii(.gz)``."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DataError
from .base import CasePaths, DatasetInfo

__all__ = ["matches", "read"]

logger = logging.getLogger(__name__)

IMAGE_NAMES = ("imaging.nii.gz", "imaging.nii")
LABEL_NAMES = ("segmentation.nii.gz", "segmentation.nii")


def _pick_one(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The single existing file among ``names`` in ``folder``; both ``.nii`` and ``.nii.gz`` is ambiguous."""
    found = [folder / name for name in names if (folder / name).is_file()]
    if len(found) > 1:
        raise DataError(f"{folder}: both {found[0].name} and {found[1].name} exist; keep one")
    return found[0] if found else None


def _case_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def matches(source: Path) -> bool:
    """A folder with at least one ``*/imaging.nii(.gz)``."""
    return source.is_dir() and any((folder / name).is_file() for folder in _case_folders(source)
                                   for name in IMAGE_NAMES)


def read(source: Path) -> DatasetInfo:
    """The ``*/imaging.nii(.gz)`` cases sorted by folder name (``segmentation.nii(.gz)`` optional)."""
    cases = []
    for folder in _case_folders(source):
        image = _pick_one(folder, IMAGE_NAMES)
        if image is None:
            logger.debug("skipping %s: no imaging.nii(.gz)", folder)
            continue
        cases.append(CasePaths(case_id=folder.name, image=image, label=_pick_one(folder, LABEL_NAMES),
                               origin=str(folder)))
    if not cases:
        raise DataError(f"{source}: no case folders with imaging.nii.gz (KiTS layout case_XXXXX/imaging.nii.gz)")
    return DatasetInfo(source, "kits", cases, description="KiTS folder")
