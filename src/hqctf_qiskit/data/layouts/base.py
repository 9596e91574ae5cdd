"""What every layout reader returns: the cases' paths (nothing read yet) and, where the layout names them, labels.

A layout reader is a module of this package with ``matches(source) -> bool`` and ``read(source) -> DatasetInfo``;
``layouts/__init__.py`` lists them in the order they are tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..images import is_image_path

__all__ = ["CasePaths", "DatasetInfo", "check_case_id", "check_unique"]


@dataclass
class CasePaths:
    """Where one case's files are; ``label`` is None for unlabelled (prediction-only) cases.

    ``image`` is an image file (NIfTI, NRRD, MHA/MHD) or a folder holding a DICOM CT series; ``label`` an image
    file or an RTSTRUCT file. ``origin`` says where the case was listed (``cases.csv: line 3``, ``cases.json:
    entry 0``, its KiTS or patient folder), so a problem found later can point at the line to fix.
    """

    case_id: str
    image: Path
    label: Path | None
    origin: str | None = None

    @property
    def is_dicom(self) -> bool:
        """The image is a DICOM folder (its labels, if any, an RTSTRUCT or an image file)."""
        return self.image.is_dir()

    @property
    def has_rtstruct_label(self) -> bool:
        """The label is an RTSTRUCT (any file that is not an image format), read with ``--structures``."""
        return self.label is not None and not is_image_path(self.label)


@dataclass
class DatasetInfo:
    """A data source's cases and what its layout says about them.

    ``labels``: class name → label value from a ``dataset.json`` (nnU-Net, MSD), in value order; None when the
    layout names no classes (``--classes`` says what the values mean). ``description`` names the layout in logs.
    """

    source: Path
    layout: str
    cases: list[CasePaths]
    labels: dict[str, int] | None = None
    description: str = ""

    @property
    def has_rtstruct_labels(self) -> bool:
        """Some case's labels come from an RTSTRUCT (``--structures`` says which structures are which class)."""
        return any(case.has_rtstruct_label for case in self.cases)


def check_case_id(case_id: str, where: str) -> None:
    """A case id names files (overlays, predictions): one plain file name, never a path."""
    if any(sep in case_id for sep in ("/", "\\", "\0")) or case_id in (".", ".."):
        raise DataError(f"{where}: case_id {case_id!r} cannot be a file name (no '/', '\\', '.' or '..'); "
                        f"case ids name output files")


def check_unique(cases: list[CasePaths], source: Path) -> None:
    seen: set[str] = set()
    for case in cases:
        if case.case_id in seen:
            raise DataError(f"{source}: duplicate case id {case.case_id!r}")
        seen.add(case.case_id)
