"""NIfTI reading, reorientation to RAS and validated loading of one image/label case.

Everything downstream works on the canonical (RAS) voxel grid, so axial slices are always ``array[:, :, z]`` no
matter how a file was stored (KiTS19 stores (slices, H, W) with a permuted affine; others are RAS or LPS).
``from_canonical`` undoes the reorientation exactly, so predictions can be written in the source file's own order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.affines import voxel_sizes
from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

from .errors import DataError

__all__ = [
    "CaseVolume",
    "case_id_from_path",
    "from_canonical",
    "load_case",
    "load_nifti",
    "parse_label_map",
    "to_canonical",
]

logger = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii.gz", ".nii")
_RAS = axcodes2ornt(("R", "A", "S"))
# Label values below this are remapped through a lookup table; larger ones fall back to np.unique.
_LUT_LIMIT = 1 << 16


def _strip_nifti_suffix(name: str) -> str | None:
    """File name without its NIfTI suffix, or None when it is not a NIfTI name."""
    lowered = name.lower()
    for suffix in NIFTI_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return None


def case_id_from_path(path: str | Path) -> str:
    """Default case id for an image file: its stem without ``.nii``/``.nii.gz``.

    A KiTS-style ``case_00012/imaging.nii.gz`` is named after its folder, because every KiTS image is called
    ``imaging`` and the stem alone would make all ids equal.
    """
    path = Path(path)
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
    return nib.Nifti1Image(data, img.affine, img.header)


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


def parse_label_map(text: str | None) -> dict[int, int] | None:
    """Parse ``--label-map`` text such as ``"2:1,3:1"`` into ``{2: 1, 3: 1}``; None or blank means no map."""
    if text is None or not text.strip():
        return None
    mapping: dict[int, int] = {}
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) != 2:
            raise DataError(f"--label-map: expected 'source:target' pairs like '2:1,3:1', got {item.strip()!r}")
        try:
            source, target = int(parts[0]), int(parts[1])
        except ValueError:
            raise DataError(f"--label-map: labels must be integers, got {item.strip()!r}") from None
        if source < 0 or target < 0:
            raise DataError(f"--label-map: labels must be non-negative, got {item.strip()!r}")
        if target > 255:
            raise DataError(f"--label-map: target label {target} does not fit a uint8 mask")
        if source in mapping:
            raise DataError(f"--label-map: source label {source} is mapped twice")
        mapping[source] = target
    return mapping


@dataclass
class CaseVolume:
    """One case on the canonical RAS grid: HU image, optional label, and where they came from."""

    case_id: str
    image: np.ndarray  # float32 HU, [X, Y, Z]
    label: np.ndarray | None  # uint8 class indices, [X, Y, Z]
    affine: np.ndarray  # canonical (RAS) affine
    spacing: tuple[float, float, float]  # mm along X, Y, Z
    image_path: Path
    label_path: Path | None

    @property
    def num_slices(self) -> int:
        """Number of axial slices (the Z extent)."""
        return int(self.image.shape[2])


def _as_volume(array: np.ndarray, path: Path) -> np.ndarray:
    """Drop trailing singleton axes (X, Y, Z, 1) and insist on 3D."""
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise DataError(f"{path}: expected a 3D volume, got shape {tuple(array.shape)}")
    return array


def _format_affine(affine: np.ndarray) -> str:
    rows = np.round(np.asarray(affine, dtype=np.float64)[:3], 4).tolist()
    return str(rows)


def _integer_labels(label: np.ndarray, path: Path) -> np.ndarray:
    """Labels as int64, refusing float masks whose values are not whole numbers."""
    if label.dtype == np.bool_ or np.issubdtype(label.dtype, np.integer):
        return label.astype(np.int64, copy=False)
    if not np.issubdtype(label.dtype, np.floating):
        raise DataError(f"{path}: unsupported label dtype {label.dtype}")
    finite = np.isfinite(label)
    if not finite.all():
        raise DataError(f"{path}: {int((~finite).sum())} non-finite label voxels (NaN/Inf)")
    rounded = np.rint(label)
    bad = rounded != label
    if bad.any():
        examples = np.unique(label[bad])[:5].tolist()
        raise DataError(f"{path}: non-integer label values, e.g. {examples}")
    return rounded.astype(np.int64)


def _remap_labels(label: np.ndarray, label_map: dict[int, int]) -> np.ndarray:
    """Apply ``label_map``; every label not listed becomes 0 (background)."""
    if label.size == 0:
        return label
    low, high = int(label.min()), int(label.max())
    if low >= 0 and high < _LUT_LIMIT:
        lut = np.zeros(high + 1, dtype=np.int64)
        for source, target in label_map.items():
            if source <= high:
                lut[source] = target
        return lut[label]
    values, inverse = np.unique(label, return_inverse=True)
    mapped = np.array([label_map.get(int(v), 0) for v in values], dtype=np.int64)
    return mapped[inverse].reshape(label.shape)


def _check_label_range(label: np.ndarray, num_classes: int, path: Path, remapped: bool) -> None:
    bad = (label < 0) | (label >= num_classes)
    if bad.any():
        offending = np.unique(label[bad])
        shown = offending[:10].tolist()
        more = f" (and {offending.size - 10} more)" if offending.size > 10 else ""
        hint = "" if remapped else "; use --label-map to select labels"
        raise DataError(
            f"{path}: label values {shown}{more} outside [0, {num_classes}) "
            f"({int(bad.sum())} voxels{' after --label-map' if remapped else ''}{hint})"
        )


def _shape_mismatch(label_path: Path, label_img: nib.Nifti1Image, image_img: nib.Nifti1Image,
                    label_shape: tuple[int, ...], image_shape: tuple[int, ...]) -> DataError:
    stored_label, stored_image = tuple(label_img.shape[:3]), tuple(image_img.shape[:3])
    if stored_label != stored_image:
        return DataError(f"{label_path}: shape {stored_label} differs from image shape {stored_image}")
    return DataError(f"{label_path}: RAS shape {label_shape} differs from image RAS shape {image_shape}")


def load_case(
    image_path: str | Path,
    label_path: str | Path | None = None,
    *,
    case_id: str | None = None,
    label_map: dict[int, int] | None = None,
    num_classes: int = 3,
    affine_tol: float = 1e-3,
) -> CaseVolume:
    """Load one image (and label), reorient both to RAS and validate them together.

    Rejects, with the file named: mismatched shapes or affines (beyond ``affine_tol`` mm), NaN/Inf voxels,
    non-integer labels, and labels outside ``[0, num_classes)`` after ``label_map`` (which sends every label it
    does not list to background, so a 42-organ map becomes kidney-only with ``{2: 1, 3: 1}``).
    """
    if not 2 <= num_classes <= 256:
        raise DataError(f"num_classes: must lie in [2, 256] for uint8 masks, got {num_classes}")
    image_path = Path(image_path)
    case_id = case_id or case_id_from_path(image_path)

    image_img = load_nifti(image_path)
    image_raw, affine = to_canonical(image_img)
    image_raw = _as_volume(image_raw, image_path)
    image = np.ascontiguousarray(image_raw, dtype=np.float32)
    finite = np.isfinite(image)
    if not finite.all():
        raise DataError(f"{image_path}: {int((~finite).sum())} non-finite voxels (NaN/Inf)")

    label = None
    if label_path is not None:
        label_path = Path(label_path)
        label_img = load_nifti(label_path)
        label_raw, label_affine = to_canonical(label_img)
        label_raw = _as_volume(label_raw, label_path)
        if label_raw.shape != image.shape:
            raise _shape_mismatch(label_path, label_img, image_img, label_raw.shape, image.shape)
        if not np.allclose(label_affine, affine, rtol=0.0, atol=affine_tol):
            raise DataError(
                f"{label_path}: affine {_format_affine(label_affine)} differs from image affine "
                f"{_format_affine(affine)} (RAS, tolerance {affine_tol} mm)"
            )
        values = _integer_labels(label_raw, label_path)
        if label_map is not None:
            values = _remap_labels(values, label_map)
        _check_label_range(values, num_classes, label_path, remapped=label_map is not None)
        label = np.ascontiguousarray(values, dtype=np.uint8)

    sx, sy, sz = (float(s) for s in voxel_sizes(affine))
    spacing = (sx, sy, sz)
    logger.debug("loaded %s: shape %s, spacing %s mm", case_id, image.shape, spacing)
    return CaseVolume(
        case_id=case_id,
        image=image,
        label=label,
        affine=affine,
        spacing=spacing,
        image_path=image_path,
        label_path=label_path,
    )
