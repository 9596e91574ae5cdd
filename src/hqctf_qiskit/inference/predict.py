"""``hqctf predict``: a label volume on the input's own grid, affine and header (readable by ITK-SNAP/Slicer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from ..errors import ConfigError, DataError
from ..data.nifti import from_canonical, load_nifti, to_canonical
from ..io import atomic_create
from .model import load_for_inference, predict_volume


def save_label_like(labels: np.ndarray, reference: nib.Nifti1Image, path: Path) -> None:
    """Write uint8 labels with the reference's affine and a header that keeps its qform/sform codes."""
    header = reference.header.copy()
    header.set_data_dtype(np.uint8)
    header.set_slope_inter(1, 0)
    header["cal_min"], header["cal_max"] = 0, int(labels.max()) if labels.size else 0
    image = nib.Nifti1Image(labels.astype(np.uint8), reference.affine, header)
    image.set_qform(reference.get_qform(), code=int(reference.header["qform_code"]) or 1)
    image.set_sform(reference.get_sform(), code=int(reference.header["sform_code"]) or 1)
    atomic_create(path, lambda tmp: nib.save(image, tmp))


def predict_nifti(model_path: Path, in_path: Path, out_path: Path, device: str = "cpu",
                  overwrite: bool = False) -> dict[str, Any]:
    out_path = Path(out_path)
    if not str(out_path).endswith((".nii", ".nii.gz")):
        raise ConfigError(f"{out_path}: output must be a .nii or .nii.gz file")
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"{out_path}: already exists (pass --overwrite to replace it)")
    reference = load_nifti(in_path)
    image, _ = to_canonical(reference)
    if image.ndim != 3:
        raise DataError(f"{in_path}: expected a 3D volume, got shape {image.shape}")
    model, meta = load_for_inference(Path(model_path), device)
    labels = predict_volume(model, np.asarray(image, dtype=np.float32), window=tuple(meta["window"]),
                            image_size=meta["image_size"], device=device)
    native = from_canonical(labels, reference)
    save_label_like(native, reference, out_path)
    counts = {name: int((native == i).sum()) for i, name in enumerate(meta["classes"])}
    return {"output": str(out_path), "shape": list(native.shape), "voxels_per_class": counts}
