"""What ``hqctf predict`` writes: NIfTI labels, an RTSTRUCT or a DICOM-SEG on the input series, class probabilities.

Every array handed in here is on the input's own grid (``from_canonical`` already applied): for a DICOM input that
is the CT volume's ``[i = column, j = row, k = slice]`` order, which the DICOM writers take transposed
(``[row, column, slice]``) with the slice headers in the same (geometry-sorted) order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from ..data.dicom import CTVolume
from ..data.nifti import NIFTI_SUFFIXES
from ..errors import ConfigError, DataError
from ..io import atomic_create

__all__ = ["DICOM_FORMATS", "FORMATS", "FORMAT_SUFFIX", "is_output_file", "output_format", "save_label_like",
           "save_probabilities", "write_dicom_labels"]

FORMATS = ("nifti", "rtstruct", "seg")
DICOM_FORMATS = ("rtstruct", "seg")
FORMAT_SUFFIX = {"nifti": ".nii.gz", "rtstruct": ".dcm", "seg": ".dcm"}
"""The file suffix of each format when a whole folder is predicted (``OUT_DIR/<case><suffix>``)."""
_DICOM_SUFFIX = ".dcm"


def is_output_file(path: Path) -> bool:
    """OUT names one file (``.nii``, ``.nii.gz``, ``.dcm``) rather than an output folder."""
    return Path(path).name.lower().endswith((*NIFTI_SUFFIXES, _DICOM_SUFFIX))


def output_format(out_path: Path, requested: str | None) -> str:
    """The format of one output file: ``requested`` (``--format``) if given, else by suffix; they must agree."""
    name = Path(out_path).name.lower()
    by_suffix = "nifti" if name.endswith(NIFTI_SUFFIXES) else "rtstruct" if name.endswith(_DICOM_SUFFIX) else None
    if requested is not None and requested not in FORMATS:
        raise ConfigError(f"--format: unknown format {requested!r}; choose {', '.join(FORMATS)}")
    if by_suffix is None:
        raise ConfigError(f"{out_path}: output must be a .nii, .nii.gz (NIfTI) or .dcm (RTSTRUCT, DICOM-SEG) file")
    if requested is None:
        return by_suffix
    if (requested == "nifti") != (by_suffix == "nifti"):
        wanted = ".nii or .nii.gz" if requested == "nifti" else ".dcm"
        raise ConfigError(f"{out_path}: --format {requested} writes a {wanted} file")
    return requested


def _copy_codes(image: nib.Nifti1Image, reference: nib.Nifti1Image) -> None:
    """Keep the reference's qform/sform codes (a viewer places the file as it places the input)."""
    image.set_qform(reference.get_qform(), code=int(reference.header["qform_code"]) or 1)
    image.set_sform(reference.get_sform(), code=int(reference.header["sform_code"]) or 1)


def save_label_like(labels: np.ndarray, reference: nib.Nifti1Image, path: Path) -> None:
    """Write uint8 labels with the reference's affine and a header that keeps its qform/sform codes."""
    header = reference.header.copy()
    header.set_data_dtype(np.uint8)
    header.set_slope_inter(1, 0)
    header["cal_min"], header["cal_max"] = 0, int(labels.max()) if labels.size else 0
    image = nib.Nifti1Image(labels.astype(np.uint8), reference.affine, header)
    _copy_codes(image, reference)
    atomic_create(path, lambda tmp: nib.save(image, tmp))


def save_probabilities(probabilities: np.ndarray, reference: nib.Nifti1Image, path: Path) -> None:
    """Write per-class probabilities ``[x, y, z, class]`` (float32) on the reference's grid and affine."""
    if not Path(path).name.lower().endswith(NIFTI_SUFFIXES):
        raise ConfigError(f"{path}: --probabilities must be a .nii or .nii.gz file")
    header = reference.header.copy()
    header.set_data_dtype(np.float32)
    header.set_slope_inter(1, 0)
    header["cal_min"], header["cal_max"] = 0, 1
    header.set_intent("vector", name="probabilities")  # 16 characters at most
    image = nib.Nifti1Image(probabilities.astype(np.float32, copy=False), reference.affine, header)
    _copy_codes(image, reference)
    atomic_create(path, lambda tmp: nib.save(image, tmp))


def write_dicom_labels(labels: np.ndarray, ct: CTVolume, class_names: Sequence[str], path: Path, fmt: str,
                       source: Path) -> Path:
    """Write labels ``[i, j, k]`` on ``ct``'s grid as an RTSTRUCT or a DICOM-SEG referring to the series itself.

    A prediction without any foreground is refused (``source`` named): a structure set needs at least one ROI,
    and an empty file would only look like a result.
    """
    if fmt not in DICOM_FORMATS:
        raise ValueError(f"not a DICOM format: {fmt}")
    if not np.any(labels):
        raise DataError(f"{source}: the prediction has no foreground (every voxel is {class_names[0]}); no "
                        f"{'RTSTRUCT' if fmt == 'rtstruct' else 'DICOM-SEG'} written")
    datasets = [pydicom.dcmread(s.path, stop_before_pixels=True) for s in ct.slices]
    from . import dicom  # highdicom loads here, not when predict imports this module

    writer = dicom.write_rtstruct if fmt == "rtstruct" else dicom.write_seg
    return writer(np.ascontiguousarray(labels.transpose(1, 0, 2)), datasets, list(class_names), path)
