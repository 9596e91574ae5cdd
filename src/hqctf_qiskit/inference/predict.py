"""``hqctf predict``: labels on the input's own grid, as NIfTI, RTSTRUCT or DICOM-SEG, for one case or a folder.

One case: INPUT an image file or a DICOM CT series folder, OUT a file whose suffix (or ``--format``) says the
format. A folder: every case in IN_DIR (image files, DICOM patient folders) → ``OUT_DIR/<case><suffix>``.
Inputs are read and checked before the model loads; outputs appear whole or not at all, and existing ones are
replaced only with ``overwrite`` (a folder's are all checked before any work).

A folder keeps going past a case that fails with bad input (a DataError: an unreadable series, a prediction with
no foreground for an RTSTRUCT, …): one line for it, the other cases written, and the failures listed at the end.
nnU-Net's predict stops at the first failure instead; for a clinic's batch export one bad series should not
hold back the others, and nothing is hidden since the command still exits with an error. Anything else (a full
disk, a bug) stops the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..data import from_canonical
from ..data.nifti import NIFTI_SUFFIXES
from ..errors import ConfigError, DataError
from .inputs import PredictInput, case_name, find_cases, load_input
from .ensemble import Ensemble, load_models
from .model import check_tta, model_preprocessing, predict_probabilities, predict_volume
from .outputs import (DICOM_FORMATS, FORMAT_SUFFIX, FORMATS, is_output_file, output_format, save_label_like,
                      save_probabilities, write_dicom_labels)
from .postprocess import ComponentFilter, filter_components, parse_keep_largest, voxel_volume_mm3

__all__ = ["predict", "predict_case", "predict_folder", "predict_nifti", "predict_one", "save_label_like"]

log = logging.getLogger(__name__)


def _check_checkpoint(checkpoint: str | None) -> None:
    if checkpoint is not None:
        from ..training.runs import check_checkpoint_name

        check_checkpoint_name(checkpoint)


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if Path(path).exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists (pass --overwrite to replace it)")


def _needs_dicom(fmt: str, in_path: Path) -> None:
    """RTSTRUCT and SEG refer to the slices of a DICOM series: an image file cannot be written back as either."""
    if fmt in DICOM_FORMATS and not Path(in_path).is_dir():  # a folder: load_input says what is wrong with it
        kind = "an RTSTRUCT" if fmt == "rtstruct" else "a DICOM-SEG"
        raise DataError(f"{in_path}: {kind} needs a DICOM CT series folder as input (it refers to the series' "
                        "slices); write this one as NIfTI (.nii.gz)")


def component_filter(keep_largest: str | None = None, min_volume: float | None = None) -> ComponentFilter:
    """``--keep-largest`` and ``--min-volume`` checked before any work (class names once the model is loaded)."""
    if min_volume is not None and not min_volume > 0:
        raise ConfigError(f"--min-volume: must be a volume in mm3 > 0, got {min_volume}")
    return ComponentFilter(parse_keep_largest(keep_largest), min_volume)


def predict_case(model: nn.Module | Ensemble, meta: dict[str, Any], case: PredictInput, out_path: Path, fmt: str,
                 probabilities_path: Path | None = None, device: str = "cpu", tta: str = "none",
                 components: ComponentFilter | None = None) -> dict[str, Any]:
    """Predict one loaded case and write its labels (and probabilities) on its own grid; returns a summary.

    Labels are predicted on the RAS canonical volume and mapped back onto the input grid; for a DICOM input that
    grid is the series' (its RAS affine), which the RTSTRUCT/SEG writers and the NIfTI outputs share. ``tta``
    averages mirrored views (``model.TTA_MODES``); ``components`` then filters the labels' connected components
    (the probabilities written stay the model's own).
    """
    if isinstance(model, Ensemble):
        labels, probabilities = model.predict_probabilities(case.image, case.spacing, device=device, tta=tta)
    elif probabilities_path is not None:
        labels, probabilities = predict_probabilities(model, case.image, voxel_spacing=case.spacing,
                                                      **model_preprocessing(meta), device=device, tta=tta)
    else:
        labels, probabilities = predict_volume(model, case.image, voxel_spacing=case.spacing,
                                               **model_preprocessing(meta), device=device, tta=tta), None
    classes = list(meta["classes"])
    if components is not None and components.is_active:
        labels = filter_components(labels, classes, components, voxel_volume_mm3(case.reference.affine))
    native = from_canonical(labels, case.reference)
    if fmt in DICOM_FORMATS:
        if case.ct is None:
            raise DataError(f"{case.source}: an RTSTRUCT or DICOM-SEG needs a DICOM CT series as input")
        write_dicom_labels(native, case.ct, classes, out_path, fmt, case.source)
    else:
        save_label_like(native, case.reference, out_path)
    if probabilities_path is not None:
        assert probabilities is not None
        save_probabilities(from_canonical(probabilities, case.reference), case.reference, probabilities_path)
    counts = np.bincount(native.ravel(), minlength=len(classes))
    return {"case_id": case.case_id, "output": str(out_path), "format": fmt, "shape": list(native.shape),
            "voxels_per_class": {name: int(counts[i]) for i, name in enumerate(classes)},
            "probabilities": str(probabilities_path) if probabilities_path is not None else None}


def predict_one(model_path: Path | list[Path], in_path: Path, out_path: Path, *, fmt: str | None = None,
                probabilities: Path | None = None, device: str = "cpu", overwrite: bool = False,
                checkpoint: str | None = None, tta: str = "none", keep_largest: str | None = None,
                min_volume: float | None = None) -> dict[str, Any]:
    """Predict one case (image file or DICOM series folder) into ``out_path`` (format by suffix or ``fmt``)."""
    out_path, in_path = Path(out_path), Path(in_path)
    _check_checkpoint(checkpoint)
    check_tta(tta)
    components = component_filter(keep_largest, min_volume)
    fmt = output_format(out_path, fmt)
    _refuse_existing(out_path, overwrite)
    if probabilities is not None:
        probabilities = Path(probabilities)
        if not probabilities.name.lower().endswith(NIFTI_SUFFIXES):
            raise ConfigError(f"{probabilities}: --probabilities must be a .nii or .nii.gz file")
        _refuse_existing(probabilities, overwrite)
    _needs_dicom(fmt, in_path)
    case = load_input(in_path)
    model, meta = load_models(model_path, device, checkpoint=checkpoint)
    components.check_classes(meta["classes"])
    result = predict_case(model, meta, case, out_path, fmt, probabilities, device, tta, components)
    return {**result, "source": meta["source"]}


def _case_outputs(cases: list[Path], out_dir: Path, fmt: str, probabilities_dir: Path | None,
                  ) -> list[tuple[str, Path, Path, Path | None]]:
    """(case id, input, output, probabilities) per case; two inputs of the same name are refused."""
    planned, seen = [], {}
    for path in cases:
        case_id = case_name(path)
        if case_id in seen:
            raise DataError(f"{path}: same case name {case_id!r} as {seen[case_id]}; rename one")
        seen[case_id] = path
        probabilities = probabilities_dir / f"{case_id}.nii.gz" if probabilities_dir is not None else None
        planned.append((case_id, path, out_dir / f"{case_id}{FORMAT_SUFFIX[fmt]}", probabilities))
    return planned


def predict_folder(model_path: Path | list[Path], in_dir: Path, out_dir: Path, *, fmt: str | None = None,
                   probabilities: Path | None = None, device: str = "cpu", overwrite: bool = False,
                   checkpoint: str | None = None, tta: str = "none", keep_largest: str | None = None,
                   min_volume: float | None = None,
                   on_case: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Predict every case of ``in_dir`` into ``out_dir/<case><suffix>`` (``fmt``, default NIfTI).

    ``probabilities``: a folder for ``<case>.nii.gz`` probability maps. ``on_case`` is called with each case's
    summary (or ``{"case_id", "input", "error"}`` for a case that failed with bad input) as it finishes.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    _check_checkpoint(checkpoint)
    check_tta(tta)
    components = component_filter(keep_largest, min_volume)
    fmt = fmt or "nifti"
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown format {fmt!r}; choose {', '.join(FORMATS)}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: not a folder (one case is written to a .nii.gz or .dcm file)")
    planned = _case_outputs(find_cases(in_dir), out_dir, fmt, Path(probabilities) if probabilities else None)
    if not overwrite:
        existing = [p for _, _, out, prob in planned for p in (out, prob) if p is not None and p.exists()]
        if existing:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise FileExistsError(f"{existing[0]}{more}: already exist (pass --overwrite to replace them)")
    model, meta = load_models(model_path, device, checkpoint=checkpoint)
    components.check_classes(meta["classes"])
    written, failed = [], []
    for case_id, path, out_path, probabilities_path in planned:
        try:
            _needs_dicom(fmt, path)
            result = predict_case(model, meta, load_input(path, case_id), out_path, fmt, probabilities_path, device,
                                  tta, components)
        except DataError as exc:
            failure = {"case_id": case_id, "input": str(path), "error": str(exc).splitlines()[0]}
            log.debug("case %s failed: %s", case_id, failure["error"])
            failed.append(failure)
            if on_case is not None:
                on_case(failure)
            continue
        written.append(result)
        if on_case is not None:
            on_case(result)
    return {"cases": len(planned), "written": written, "failed": failed, "source": meta["source"],
            "format": fmt}


def predict(model_path: Path | list[Path], in_path: Path, out_path: Path, **options: Any) -> dict[str, Any]:
    """One case when OUT names a file (``.nii``, ``.nii.gz``, ``.dcm``), else every case of the folder INPUT.

    ``model_path``: a run or export folder, or a list of them (an ensemble: probabilities averaged)."""
    if is_output_file(Path(out_path)):
        options.pop("on_case", None)
        return predict_one(model_path, in_path, out_path, **options)
    if not Path(in_path).is_dir():
        raise ConfigError(f"{out_path}: output must be a .nii, .nii.gz or .dcm file (an output folder needs a folder "
                          "of cases as INPUT)")
    return predict_folder(model_path, in_path, out_path, **options)


def predict_nifti(model_path: Path, in_path: Path, out_path: Path, device: str = "cpu",
                  overwrite: bool = False, checkpoint: str | None = None) -> dict[str, Any]:
    """One image into a NIfTI label file (the original ``hqctf predict``; kept for callers of the library)."""
    return predict_one(model_path, in_path, out_path, fmt="nifti", device=device, overwrite=overwrite,
                       checkpoint=checkpoint)
