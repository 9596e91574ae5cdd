"""NIfTI reading and reorientation to RAS (the grid every case is loaded onto, whatever its format).

Everything downstream works on the canonical (RAS) voxel grid, so axial slices are always ``array[:, :, z]`` no
matter how a file was stored (KiTS19 stores (slices, H, W) with a permuted affine; others are RAS or LPS).
``from_canonical`` undoes the reorientation exactly, so predictions can be written in the source file's own order.
Loading a whole case (any format, validated) is :func:`~.cases.load_case`; it is importable from here too.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

from ..lazy import lazy_exports
from .errors import DataError

__all__ = [
    "NIFTI_SUFFIXES",
    "case_id_from_path",
    "check_affine",
    "format_affine",
    "from_canonical",
    "load_nifti",
    "to_canonical",
]


NIFTI_SUFFIXES = (".nii.gz", ".nii")
_RAS = axcodes2ornt(("R", "A", "S"))


def _strip_nifti_suffix(name: str) -> str | None:
    """File name without its NIfTI suffix, or None when it is not a NIfTI name."""
    lowered = name.lower()
    for suffix in NIFTI_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return None


def case_id_from_path(path: str | Path) -> str:
    """Default case id for an image: a file's stem without ``.nii``/``.nii.gz``, a (DICOM) folder's name.

    A KiTS-style ``case_00012/imaging.nii.gz`` is named after its folder, because every KiTS image is called
    ``imaging`` and the stem alone would make all ids equal.
    """
    path = Path(path)
    if path.is_dir():
        return path.name
    stem = _strip_nifti_suffix(path.name)
    if stem is None:
        stem = path.stem
    if stem.lower() == "imaging" and path.parent.name:
        return path.parent.name
    return stem


def load_nifti(path: str | Path) -> nib.Nifti1Image:
    """Load a ``.nii``/``.nii.gz`` file fully into memory.

    The voxel data is read eagerly so that a truncated or corrupt file fails here, with its name, instead of
    later inside a training loop.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    if _strip_nifti_suffix(path.name) is None:
        raise DataError(f"{path}: not a NIfTI file (expected .nii or .nii.gz)")
    try:
        img = nib.load(str(path))
        if not isinstance(img, nib.Nifti1Image):  # Nifti2Image is a subclass
            raise DataError(f"{path}: not a NIfTI image (nibabel read it as {type(img).__name__})")
        data = np.asanyarray(img.dataobj)
    except DataError:
        raise
    except Exception as exc:  # nibabel raises many types (ImageFileError, EOFError, zlib.error, OSError, ...)
        raise DataError(f"{path}: unreadable NIfTI ({type(exc).__name__}: {exc})") from exc
    if data.ndim < 3:
        raise DataError(f"{path}: expected a 3D volume, got shape {tuple(data.shape)}")
    check_affine(img.affine, path)
    return nib.Nifti1Image(data, img.affine, img.header)


def check_affine(affine: np.ndarray, path: Path) -> None:
    """A voxel-to-world affine every axis of which points somewhere: reorientation to RAS needs one.

    A zero or non-finite sform/qform would otherwise surface as a nibabel exception far from the file's name.
    """
    affine = np.asarray(affine, dtype=np.float64)
    if not np.isfinite(affine).all():
        raise DataError(f"{path}: non-finite values in the affine (broken sform/qform): {format_affine(affine)}")
    undetermined = [axis for axis, (ras_axis, _flip) in enumerate(io_orientation(affine)) if np.isnan(ras_axis)]
    if undetermined:
        raise DataError(f"{path}: degenerate affine: no orientation for voxel axis "
                        f"{', '.join(map(str, undetermined))} (broken sform/qform): {format_affine(affine)}")


def _canonical_ornt(affine: np.ndarray) -> np.ndarray:
    """Orientation transform from the stored voxel order to RAS (nibabel's closest-canonical rule)."""
    return io_orientation(affine)


def to_canonical(img: nib.Nifti1Image) -> tuple[np.ndarray, np.ndarray]:
    """Reorient to RAS; return (array in [X, Y, Z] order, canonical affine).

    Same semantics as ``nibabel.as_closest_canonical``: only axis flips and permutations, never resampling, so
    voxel values are untouched. The array is C-contiguous and keeps its stored dtype.
    """
    canonical = nib.as_closest_canonical(img)
    array = np.ascontiguousarray(np.asanyarray(canonical.dataobj))
    return array, np.asarray(canonical.affine, dtype=np.float64)


def from_canonical(array_canonical: np.ndarray, reference_img: nib.Nifti1Image) -> np.ndarray:
    """Put an array that lives on ``reference_img``'s canonical grid back into the reference's voxel order.

    Used to save predictions made on RAS slices so they overlay the source file voxel for voxel.
    Extra trailing axes (e.g. class channels) are carried along.
    """
    ornt = _canonical_ornt(reference_img.affine)
    ref_shape = tuple(reference_img.shape[:3])
    expected_list = [0, 0, 0]
    for stored_axis, (ras_axis, _flip) in enumerate(ornt):  # row i: stored axis i becomes RAS axis ras_axis
        expected_list[int(ras_axis)] = ref_shape[stored_axis]
    expected = tuple(expected_list)
    if tuple(array_canonical.shape[:3]) != expected:
        raise DataError(
            f"from_canonical: array shape {tuple(array_canonical.shape)} does not match the canonical shape "
            f"{expected} of the reference image"
        )
    back = ornt_transform(_RAS, ornt)
    return np.ascontiguousarray(apply_orientation(array_canonical, back))


def format_affine(affine: np.ndarray) -> str:
    """The affine's top three rows, rounded: enough to see a mismatch in a one-line message."""
    rows = np.round(np.asarray(affine, dtype=np.float64)[:3], 4).tolist()
    return str(rows)


# The case loader and label helpers lived here before other formats came; old imports keep working.
__getattr__, _ = lazy_exports(__name__, {"CaseVolume": "..cases", "load_case": "..cases",
                                         "parse_label_map": "..labels"})
