"""Image files of any supported format as a NIfTI image in memory: NIfTI with nibabel, NRRD/MHA/MHD with SimpleITK.

Everything after reading works on a ``nib.Nifti1Image`` (voxels + RAS affine), so one loader validates and
reorients every format the same way. SimpleITK describes geometry in DICOM's LPS world (origin, spacing,
direction cosines); the affine is built from those and flipped to NIfTI's RAS (x and y negated), the same
conversion ITK applies when it writes NIfTI itself.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import nibabel as nib
import numpy as np

from .errors import DataError
from .nifti import NIFTI_SUFFIXES, check_affine, load_nifti

__all__ = ["IMAGE_SUFFIXES", "ITK_SUFFIXES", "image_files", "image_stem", "is_image_path", "read_image"]

logger = logging.getLogger(__name__)

ITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
IMAGE_SUFFIXES = NIFTI_SUFFIXES + ITK_SUFFIXES
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# The detached-data line of a header-only format: MetaImage ``ElementDataFile = x.raw``, NRRD ``data file: x.raw``.
_DATA_FILE = re.compile(r"^\s*(?:ElementDataFile\s*=|data\s*file\s*:|datafile\s*:)\s*(\S.*?)\s*$", re.IGNORECASE)


def _suffix(path: Path) -> str | None:
    lowered = path.name.lower()
    return next((s for s in IMAGE_SUFFIXES if lowered.endswith(s)), None)


def is_image_path(path: str | Path) -> bool:
    """The file name has a supported image suffix (``.nii(.gz)``, ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``)."""
    return _suffix(Path(path)) is not None


def image_stem(path: str | Path) -> str:
    """The file name without its image suffix (``liver_0.nii.gz`` → ``liver_0``; other names: the usual stem)."""
    path = Path(path)
    suffix = _suffix(path)
    return path.name[: -len(suffix)] if suffix else path.stem


def image_files(path: str | Path) -> list[Path]:
    """The files an image is read from: itself, plus the data file a detached header (``.mhd``, ``.nhdr``) names.

    Used to key cached checks, so replacing the ``.raw`` beside an ``.mhd`` counts as a change.
    """
    path = Path(path)
    files = [path]
    if path.name.lower().endswith((".mhd", ".nhdr")):
        try:
            with path.open("r", encoding="latin-1") as handle:
                for line in handle:
                    match = _DATA_FILE.match(line)
                    if match and match.group(1).upper() not in ("LOCAL", "LIST"):
                        files.append(path.parent / match.group(1))
                        break
        except OSError:
            pass  # the reader will say what is wrong with the file
    return files


def read_image(path: str | Path) -> nib.Nifti1Image:
    """Read an image file fully (voxels included, so a truncated file fails here with its name) as NIfTI.

    NIfTI goes through :func:`~.nifti.load_nifti`; NRRD, MHA and MHD through SimpleITK, with the LPS geometry
    turned into a RAS affine. Vector (RGB, multi-channel) pixels and several volumes in one file are refused.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix in NIFTI_SUFFIXES:
        return load_nifti(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    if suffix is None:
        raise DataError(f"{path}: unsupported image format (expected {', '.join(IMAGE_SUFFIXES)}, or a DICOM folder)")
    return read_itk_image(path)


def _itk_reason(exc: Exception) -> str:
    """The gist of an ITK exception (its text spans lines and repeats the file name)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return text.split("itk::ERROR:")[-1].strip()[:200]


def read_itk_image(path: str | Path) -> nib.Nifti1Image:
    """Read any file SimpleITK reads as a NIfTI image in memory: voxels as ``[x, y, z]``, affine LPS → RAS."""
    import SimpleITK as sitk

    path = Path(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise DataError(f"{path}: unreadable image ({_itk_reason(exc)})") from exc
    components = image.GetNumberOfComponentsPerPixel()
    if components != 1:
        raise DataError(f"{path}: {components} values per voxel (vector or RGB image); expected one (a CT)")
    dimension = image.GetDimension()
    size = image.GetSize()
    if dimension < 3:
        raise DataError(f"{path}: expected a 3D volume, got a {dimension}D image of size {size}")
    if dimension > 3 and any(n != 1 for n in size[3:]):
        raise DataError(f"{path}: {dimension}D image of size {size}: several volumes (channels or time points) in "
                        "one file; give one 3D volume per case")
    array = sitk.GetArrayFromImage(image)  # numpy order: the last ITK axis first
    array = np.ascontiguousarray(np.transpose(array.reshape(array.shape[-3:])))  # [x, y, z], as NIfTI stores
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dimension, dimension)[:3, :3]
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)[:3]
    origin = np.asarray(image.GetOrigin(), dtype=np.float64)[:3]
    affine_lps = np.eye(4)
    affine_lps[:3, :3] = direction * spacing[None, :]  # column i: the step along voxel axis i
    affine_lps[:3, 3] = origin
    affine = _LPS_TO_RAS @ affine_lps
    check_affine(affine, path)
    logger.debug("%s: read with SimpleITK, size %s, spacing %s", path, size, tuple(spacing))
    return nib.Nifti1Image(array, affine)
