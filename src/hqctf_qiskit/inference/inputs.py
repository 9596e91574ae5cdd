"""What ``hqctf predict`` can read: an image file or a DICOM CT series folder, as one case to predict.

Every input becomes a RAS canonical HU volume (what the model was trained on) plus a *reference* NIfTI image on
the input's own grid, used to map the labels back (``from_canonical``) and to write NIfTI outputs with the input's
affine. A DICOM series also keeps its :class:`~..data.dicom.CTVolume` (slice UIDs and files), which an RTSTRUCT or
SEG written back must refer to. Cases are named by file or folder name (the data layer's rule for DICOM folders
whose name holds the patient's ID or name: a hash), never by PatientID.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.affines import voxel_sizes
from nibabel.orientations import io_orientation

from ..data import case_id_from_path, load_case
from ..data.dicom import CTVolume, read_ct_series
from ..data.dicom.scan import is_dicom_file, list_files
from ..data.images import IMAGE_SUFFIXES, is_image_path, read_image
from ..data.layouts.dicom import private_case_id
from ..data.nifti import NIFTI_SUFFIXES, to_canonical
from ..errors import DataError

__all__ = ["PredictInput", "case_name", "find_cases", "holds_dicom", "is_dicom_folder", "load_input"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class PredictInput:
    """One case to predict: the canonical HU volume, the reference grid it came from, and its DICOM series if any."""

    case_id: str
    source: Path
    image: np.ndarray = field(repr=False)  # float32 HU on the RAS canonical grid
    reference: nib.Nifti1Image = field(repr=False)  # the input's own grid and affine (RAS world)
    ct: CTVolume | None = field(default=None, repr=False)  # set for a DICOM series input

    @property
    def is_dicom(self) -> bool:
        return self.ct is not None

    @property
    def spacing(self) -> tuple[float, float, float]:
        """mm per voxel along the canonical X, Y, Z: the reference's voxel sizes in RAS axis order."""
        sizes = voxel_sizes(self.reference.affine)
        in_ras = [0.0, 0.0, 0.0]
        for stored_axis, (ras_axis, _flip) in enumerate(io_orientation(self.reference.affine)):
            in_ras[int(ras_axis)] = float(sizes[stored_axis])
        return in_ras[0], in_ras[1], in_ras[2]


def holds_dicom(folder: Path) -> bool:
    """A folder with at least one DICOM file anywhere below it."""
    return any(is_dicom_file(path) for path in list_files(folder))


def is_dicom_folder(path: Path) -> bool:
    return Path(path).is_dir() and holds_dicom(Path(path))


def case_name(path: Path) -> str:
    """How a case is named in outputs: an image file by its stem (KiTS ``imaging`` files by their folder), a DICOM
    folder by its name, or ``case-<hash>`` when that name holds the patient's ID or name (the data layer's rule)."""
    path = Path(path)
    if path.is_dir():
        return private_case_id(path, path.name)
    return case_id_from_path(path)


def load_input(path: str | Path, case_id: str | None = None) -> PredictInput:
    """Read an image file (NIfTI, NRRD, MHA/MHD) or a DICOM CT series folder; one line naming it when it cannot be.

    Validated as training validates an image: readable, 3D, finite voxels; a DICOM series as the data layer
    validates one (one evenly spaced straight stack, HU applied).
    """
    path = Path(path)
    if path.is_dir():
        if not holds_dicom(path):
            raise DataError(f"{path}: a folder without DICOM files (expected a DICOM CT series folder or an image "
                            f"file: {', '.join(IMAGE_SUFFIXES)})")
        ct = read_ct_series(path)
        reference = ct.to_nifti()
        image, _ = to_canonical(reference)
        image = np.ascontiguousarray(image, dtype=np.float32)
        if not np.isfinite(image).all():
            raise DataError(f"{path}: {int((~np.isfinite(image)).sum())} non-finite voxels (NaN/Inf)")
        return PredictInput(case_id or case_name(path), path, image, reference, ct)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not is_image_path(path):
        raise DataError(f"{path}: not an image file or a DICOM folder (expected {', '.join(IMAGE_SUFFIXES)}, or a "
                        "folder holding a DICOM CT series)")
    case = load_case(path)  # the data layer's checks of an image (readable, 3D, affine, no NaN/Inf voxels)
    # NIfTI: header and affine only (the voxels were read and checked above), to keep its qform/sform codes
    reference = nib.load(str(path)) if path.name.lower().endswith(NIFTI_SUFFIXES) else read_image(path)
    return PredictInput(case_id or case_name(path), path, case.image, reference)


def find_cases(folder: Path) -> list[Path]:
    """The cases of a folder, in name order: each image file in it, each subfolder holding DICOM files, and each
    subfolder holding one ``imaging`` image (KiTS layout). Hidden entries are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (an output folder needs a folder of cases as input)")
    cases = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and is_image_path(entry):
            cases.append(entry)
        elif entry.is_dir():
            if holds_dicom(entry):
                cases.append(entry)
            else:
                imaging = [p for p in entry.iterdir() if p.is_file() and is_image_path(p)
                           and p.name.lower().startswith("imaging.")]
                if len(imaging) == 1:
                    cases.append(imaging[0])
                else:
                    logger.debug("skipping %s: neither DICOM files nor an imaging image", entry)
    if not cases:
        if any(is_dicom_file(p) for p in folder.iterdir() if p.is_file()):
            raise DataError(f"{folder}: holds a DICOM series itself, not case folders; for one case give an output "
                            "file (OUT.dcm, OUT.nii.gz)")
        raise DataError(f"{folder}: no cases (image files, or folders holding a DICOM CT series)")
    return cases
