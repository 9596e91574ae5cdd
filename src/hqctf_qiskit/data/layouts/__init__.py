"""Dataset layouts: one reader module per layout, tried in order; the first whose ``matches`` says yes reads.

- ``msd``: a Medical Segmentation Decathlon folder or its ``dataset.json`` (``training`` list);
- ``nnunet``: an nnU-Net raw dataset folder (``dataset.json``, ``imagesTr``, ``labelsTr``) or its dataset.json;
- ``kits``: a folder of ``case_XXXXX/imaging.nii.gz`` (+ ``segmentation.nii.gz``) folders;
- ``dicom``: a folder of patient folders, each with a DICOM CT series and an RTSTRUCT;
- ``caselist``: a CSV or JSON list of image/label pairs (image files or DICOM folders; labels or RTSTRUCTs).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from ..errors import DataError
from . import caselist, dicom, kits, msd, nnunet
from .base import CasePaths, DatasetInfo, check_case_id, check_unique

__all__ = ["LAYOUTS", "CasePaths", "DatasetInfo", "check_case_id", "read_layout"]

LAYOUTS: tuple[ModuleType, ...] = (msd, nnunet, kits, dicom, caselist)


def read_layout(source: Path) -> DatasetInfo:
    """The cases of ``source`` as the first matching layout reads them (nothing but headers is read)."""
    for layout in LAYOUTS:
        if layout.matches(source):
            info = layout.read(source)
            break
    else:
        if source.is_dir():
            raise DataError(f"{source}: no case folders with imaging.nii.gz (KiTS layout case_XXXXX/imaging.nii.gz), "
                            "no patient folders with DICOM files, and no dataset.json (nnU-Net, MSD)")
        raise DataError(f"{source}: unsupported case source (expected a KiTS, DICOM, nnU-Net or MSD folder, a "
                        ".csv or a .json list, or a dataset.json)")
    if not info.cases:
        raise DataError(f"{source}: no cases listed")
    check_unique(info.cases, source)
    return info
