"""One case, from any supported source, as validated volumes on the canonical RAS grid.

An image is an image file (NIfTI, NRRD, MHA/MHD: :mod:`.images`) or a folder holding a DICOM CT series
(:mod:`.dicom`); a label is an image file on the same grid, or an RTSTRUCT drawn on that series (its structures
mapped to classes by ``--structures``). Every source is turned into a NIfTI image in memory first, so the same
checks, reorientation and label rules apply to all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.affines import voxel_sizes

from .dicom import StructureMap, read_ct_series, read_dicom_case, structure_map
from .errors import DataError
from .images import is_image_path, read_image
from .labels import check_label_range, integer_labels, remap_labels
from .nifti import case_id_from_path, format_affine, to_canonical

__all__ = ["CaseVolume", "StructuresSpec", "load_case", "structures_needed"]

logger = logging.getLogger(__name__)

StructuresSpec = StructureMap | str | Path | Mapping[str, object]


@dataclass
class CaseVolume:
    """One case on the canonical RAS grid: HU image, optional label, and where they came from.

    ``absent_classes``: foreground classes an RTSTRUCT case has no structure for (a structure missing in this
    patient), so evaluation reports NaN for them here rather than a Dice of 0. ``native_shape``/``native_affine``:
    the image as stored (its own voxel order, RAS world), for reports and for writing results back in that order.
    """

    case_id: str
    image: np.ndarray  # float32 HU, [X, Y, Z]
    label: np.ndarray | None  # uint8 class indices, [X, Y, Z]
    affine: np.ndarray  # canonical (RAS) affine
    spacing: tuple[float, float, float]  # mm along X, Y, Z
    image_path: Path
    label_path: Path | None
    absent_classes: tuple[int, ...] = ()
    native_shape: tuple[int, int, int] | None = None
    native_affine: np.ndarray | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list, repr=False)

    @property
    def num_slices(self) -> int:
        """Number of axial slices (the Z extent)."""
        return int(self.image.shape[2])


def structures_needed(label: Path) -> DataError:
    """The one line for an RTSTRUCT label read without ``--structures``."""
    return DataError(f"--structures: needed to read the RTSTRUCT {label} (which structures are which class, "
                     "e.g. --structures 'GTV*:tumor')")


def _as_volume(array: np.ndarray, path: Path) -> np.ndarray:
    """Drop trailing singleton axes (X, Y, Z, 1) and insist on 3D."""
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise DataError(f"{path}: expected a 3D volume, got shape {tuple(array.shape)}")
    return array


def _shape_mismatch(label_path: Path, label_img: nib.Nifti1Image, image_img: nib.Nifti1Image,
                    label_shape: tuple[int, ...], image_shape: tuple[int, ...]) -> DataError:
    stored_label, stored_image = tuple(label_img.shape[:3]), tuple(image_img.shape[:3])
    if stored_label != stored_image:
        return DataError(f"{label_path}: shape {stored_label} differs from image shape {stored_image}")
    return DataError(f"{label_path}: RAS shape {label_shape} differs from image RAS shape {image_shape}")


@dataclass
class _Read:
    """A case's image and label as NIfTI images in memory, and what reading an RTSTRUCT reported."""

    image: nib.Nifti1Image
    label: nib.Nifti1Image | None
    rtstruct: bool = False
    absent_classes: tuple[int, ...] = ()
    warnings: list[str] = field(default_factory=list)


def _structure_map(structures: StructuresSpec | None, classes: Sequence[str] | None, num_classes: int,
                   label: Path) -> StructureMap:
    if structures is None:
        raise structures_needed(label)
    if isinstance(structures, StructureMap):
        mapping = structures
    else:
        mapping = structure_map(structures, classes or [f"class_{i}" for i in range(num_classes)])
    if mapping.num_classes != num_classes:
        raise DataError(f"--structures: {mapping.num_classes} classes ({', '.join(mapping.classes)}) where the run "
                        f"has {num_classes}")
    return mapping


def _read_sources(image_path: Path, label_path: Path | None, case_id: str, structures: StructuresSpec | None,
                  classes: Sequence[str] | None, num_classes: int) -> _Read:
    """Read image and label from whatever they are (file or DICOM folder; image or RTSTRUCT)."""
    rtstruct = label_path is not None and not is_image_path(label_path)
    if image_path.is_dir():
        if rtstruct:
            assert label_path is not None
            mapping = _structure_map(structures, classes, num_classes, label_path)
            case = read_dicom_case(image_path, mapping, rtstruct=label_path, case_id=case_id)
            report = case.report
            return _Read(case.ct.to_nifti(), case.ct.to_nifti(case.labels), rtstruct=True,
                         absent_classes=tuple(report.absent_classes), warnings=list(report.warnings))
        image = read_ct_series(image_path).to_nifti()
    else:
        if rtstruct:
            raise DataError(f"{label_path}: an RTSTRUCT label needs the DICOM CT series it was drawn on as the image "
                            f"(a folder), not {image_path.name}")
        image = read_image(image_path)
    return _Read(image, read_image(label_path) if label_path is not None else None)


def load_case(
    image_path: str | Path,
    label_path: str | Path | None = None,
    *,
    case_id: str | None = None,
    label_map: dict[int, int] | None = None,
    num_classes: int | None = None,
    affine_tol: float = 1e-3,
    structures: StructuresSpec | None = None,
    classes: Sequence[str] | None = None,
) -> CaseVolume:
    """Load one image (and label), reorient both to RAS and validate them together.

    ``image_path``: an image file or a DICOM CT folder; ``label_path``: an image file, or an RTSTRUCT (then
    ``structures`` maps its structures to ``classes``, and ``label_map`` does not apply: the structure map already
    gives class indices). ``num_classes`` defaults to ``len(classes)``, else 3.
    Rejects, with the file named: mismatched shapes or affines (beyond ``affine_tol`` mm), NaN/Inf voxels,
    non-integer labels, and labels outside ``[0, num_classes)`` after ``label_map`` (which sends every label it
    does not list to background, so a 42-organ map becomes kidney-only with ``{2: 1, 3: 1}``).
    """
    if num_classes is None:
        num_classes = len(classes) if classes is not None else 3
    if classes is not None and len(classes) != num_classes:
        raise ValueError(f"{len(classes)} class names for {num_classes} classes")
    if not 2 <= num_classes <= 256:
        raise DataError(f"num_classes: must lie in [2, 256] for uint8 masks, got {num_classes}")
    image_path = Path(image_path)
    label_path = Path(label_path) if label_path is not None else None
    case_id = case_id or case_id_from_path(image_path)

    read = _read_sources(image_path, label_path, case_id, structures, classes, num_classes)
    image_raw, affine = to_canonical(read.image)
    image_raw = _as_volume(image_raw, image_path)
    image = np.ascontiguousarray(image_raw, dtype=np.float32)
    finite = np.isfinite(image)
    if not finite.all():
        raise DataError(f"{image_path}: {int((~finite).sum())} non-finite voxels (NaN/Inf)")

    label = None
    if read.label is not None:
        assert label_path is not None
        label_raw, label_affine = to_canonical(read.label)
        label_raw = _as_volume(label_raw, label_path)
        if label_raw.shape != image.shape:
            raise _shape_mismatch(label_path, read.label, read.image, label_raw.shape, image.shape)
        if not np.allclose(label_affine, affine, rtol=0.0, atol=affine_tol):
            raise DataError(
                f"{label_path}: affine {format_affine(label_affine)} differs from image affine "
                f"{format_affine(affine)} (RAS, tolerance {affine_tol} mm)"
            )
        values = integer_labels(label_raw, label_path)
        remapped = label_map is not None and not read.rtstruct
        if remapped:
            assert label_map is not None
            values = remap_labels(values, label_map)
        check_label_range(values, num_classes, label_path, remapped=remapped)
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
        absent_classes=read.absent_classes,
        native_shape=tuple(int(n) for n in read.image.shape[:3]),  # type: ignore[arg-type]
        native_affine=np.asarray(read.image.affine, dtype=np.float64),
        warnings=read.warnings,
    )
