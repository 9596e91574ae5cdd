"""Any readable case → KiTS layout: ``imaging.nii.gz`` (HU) + ``segmentation.nii.gz`` (uint8 class indices).

The case is loaded exactly as training loads it (:func:`~.cases.load_case`: same checks, same RTSTRUCT
rasterisation, same label map), then written on its canonical RAS grid, so ``--data`` on the converted folder
trains on the same voxels as on the original. HU are stored as int16 when they are whole numbers in its range
(DICOM after rescale, most NIfTI CT), else float32. Files are written atomically through :mod:`hqctf_qiskit.io`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from ..io import atomic_create
from .cases import CaseVolume, StructuresSpec, load_case
from .dicom.scan import list_files
from .errors import DataError
from .layouts import CasePaths, kits, msd, nnunet
from .layouts.dicom import patient_files, private_case_id
from .nifti import case_id_from_path

__all__ = ["ConvertedCase", "case_to_convert", "check_empty_output", "convert_case", "write_kits_case"]

logger = logging.getLogger(__name__)

IMAGE_NAME = "imaging.nii.gz"
LABEL_NAME = "segmentation.nii.gz"
_INT16 = np.iinfo(np.int16)


@dataclass
class ConvertedCase:
    """What ``convert`` wrote for one case (no patient data: the id is a folder name or a hash)."""

    case_id: str
    image: Path
    label: Path | None
    shape: tuple[int, int, int]
    image_dtype: str
    voxels_per_class: list[int] | None = None
    absent_classes: list[int] = field(default_factory=list)


def check_empty_output(out_dir: Path) -> None:
    """Refuse an output folder that exists with anything in it (nothing is overwritten or mixed)."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        what = "a file" if not out_dir.is_dir() else "not empty"
        raise DataError(f"{out_dir}: output folder is {what}; give a new or empty folder")


def _looks_like_dataset(folder: Path) -> bool:
    return any(layout.matches(folder) for layout in (msd, nnunet, kits))


def case_to_convert(case: Path, label: Path | None = None) -> CasePaths:
    """The one case ``case`` names: an image file (+ ``label``), or a DICOM folder (CT series + its RTSTRUCT below
    it, or + ``label``). A dataset is refused here: pick one of its cases by id instead."""
    case = Path(case).expanduser()
    if not case.exists():
        raise DataError(f"{case}: no such file or directory")
    if label is not None and not Path(label).is_file():
        raise DataError(f"{label}: label file not found")
    if case.is_file():
        return CasePaths(case_id_from_path(case), case, label, origin=str(case))
    if _looks_like_dataset(case):
        raise DataError(f"{case}: a dataset, not one case; name one case with --case ID, or convert all with --all")
    found = patient_files(case)
    if not found.rtstructs and not found.others:
        extra = f" ({len(list_files(case))} other files)" if list_files(case) else ""
        raise DataError(f"{case}: no DICOM files found{extra}")
    if label is None and len(found.rtstructs) > 1:
        raise DataError(f"{case}: {len(found.rtstructs)} RTSTRUCT files below it; if it is a folder of patient "
                        "folders use --case ID or --all, else pass the image folder and one --label RTSTRUCT")
    if label is None and found.rtstructs:
        label = found.rtstructs[0]
    case_id = private_case_id(case, case.name, found.others + found.rtstructs)
    if case_id != case.name:
        logger.info("case named %s: its folder name holds the patient's DICOM PatientID or PatientName", case_id)
    return CasePaths(case_id, case, label, origin=str(case))


def _image_array(image: np.ndarray) -> np.ndarray:
    """int16 when every HU is a whole number int16 holds (no information lost), else float32."""
    if image.size and np.array_equal(image, np.rint(image)) and _INT16.min <= image.min() and image.max() <= _INT16.max:
        return image.astype(np.int16)
    return image.astype(np.float32)


def _nifti(array: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    image = nib.Nifti1Image(array, affine)
    image.set_qform(affine, code=1)  # scanner coordinates, in both forms: ITK, Slicer and nibabel agree
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm")
    return image


def write_kits_case(volume: CaseVolume, out_dir: Path, num_classes: int = 0) -> ConvertedCase:
    """Write ``volume`` as ``out_dir/imaging.nii.gz`` (+ ``segmentation.nii.gz`` when it has a label); voxels are
    counted for at least ``num_classes`` classes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    image = _image_array(volume.image)
    image_path = out_dir / IMAGE_NAME
    atomic_create(image_path, lambda tmp: nib.save(_nifti(image, volume.affine), tmp))
    label_path, counts = None, None
    if volume.label is not None:
        label = volume.label.astype(np.uint8)
        label_path = out_dir / LABEL_NAME
        atomic_create(label_path, lambda tmp: nib.save(_nifti(label, volume.affine), tmp))
        counts = np.bincount(label.ravel(), minlength=num_classes).tolist()
    return ConvertedCase(volume.case_id, image_path, label_path, tuple(int(n) for n in image.shape),  # type: ignore
                         str(image.dtype), counts, list(volume.absent_classes))


def convert_case(paths: CasePaths, out_dir: Path, *, classes: Sequence[str], label_map: dict[int, int] | None = None,
                 structures: StructuresSpec | None = None) -> ConvertedCase:
    """Load ``paths`` as training would (validated, RAS) and write it to ``out_dir`` in KiTS layout."""
    volume = load_case(paths.image, paths.label, case_id=paths.case_id, label_map=label_map, classes=classes,
                       structures=structures)
    converted = write_kits_case(volume, out_dir, len(classes))
    logger.debug("case %s: wrote %s%s", paths.case_id, converted.image.name,
                f" and {converted.label.name}" if converted.label is not None else " (no label)")
    return converted
