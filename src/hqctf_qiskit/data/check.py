"""The dataset check up front (nnU-Net's integrity check is the model): every case read and validated once.

Each case goes through the same loader training uses (:func:`~.cases.load_case`: readable files, 3D, image and
label shapes and affines agree, finite voxels, whole-number labels inside the classes after the label map, an
affine with an orientation; for DICOM a straight, evenly spaced CT stack and an RTSTRUCT in its frame of reference
holding the asked structures), so a broken case in any split fails before a run writes anything, instead of in
evaluation days later. What is reported per case (stored shape, spacing, orientation, voxels per class, classes
an RTSTRUCT lacks) is what ``hqctf check-data`` prints. Passed cases are remembered by
:class:`~.check_cache.CheckCache`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.affines import voxel_sizes
from tqdm import tqdm

from .cases import load_case, structures_needed
from .check_cache import CheckCache
from .datasets import CasePaths
from .dicom import StructureMap, structure_map
from .errors import DataError

__all__ = ["MIN_IN_PLANE", "CaseCheck", "DatasetCheck", "check_cases", "missing_label_problem"]

log = logging.getLogger(__name__)

MIN_IN_PLANE = 8
"""Axial slices narrower than this (voxels, either in-plane axis) get a warning: resampled or stretched for the network
they carry almost no context (a 64x1 slice is a line, not an image)."""


@dataclass
class CaseCheck:
    """One case's check: its geometry as stored, voxels per class (after the label map), warnings, or the problem."""

    case_id: str
    image: Path
    label: Path | None
    shape: tuple[int, int, int] | None = None  # stored voxel order, as the header says
    spacing: tuple[float, float, float] | None = None  # mm along the stored axes
    orientation: str | None = None  # stored axis codes, e.g. "RAS", "LPS"
    label_counts: list[int] | None = None  # voxels of class 0, 1, ...; None without a label
    absent_classes: list[int] = field(default_factory=list)  # classes an RTSTRUCT has no structure for (NaN there)
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None  # one line naming the file, when the case is unusable

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class DatasetCheck:
    """Every case's check, in dataset order; ``cached`` says how many came from the cache without a read."""

    cases: list[CaseCheck]
    cached: int = 0
    seconds: float = 0.0

    @property
    def failures(self) -> list[CaseCheck]:
        return [case for case in self.cases if not case.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def warnings(self) -> list[str]:
        return [warning for case in self.cases for warning in case.warnings]

    def raise_first_failure(self, source: str | Path, hint: str | None = None) -> None:
        """Raise one line for the first bad case, counting the others (``hint``: the command that lists them)."""
        failures = self.failures
        if not failures:
            return
        message = str(failures[0].problem)
        others = len(failures) - 1
        if others:
            command = hint or f"hqctf check-data {source}"
            message += f" ({others} more bad case{'s' if others > 1 else ''}: '{command}' lists them all)"
        raise DataError(message)


def missing_label_problem(paths: CasePaths) -> str:
    """The line for a case that needs a label and has none, naming where the case was listed."""
    if paths.origin is None:
        return f"{paths.image}: case {paths.case_id} has no label file"
    if paths.is_dicom and Path(paths.origin) == paths.image:  # a DICOM patient folder
        return f"{paths.origin}: no RTSTRUCT file found (a labelled DICOM case needs a CT series and an RTSTRUCT)"
    if Path(paths.origin) == paths.image.parent:  # a KiTS case folder
        return f"{paths.origin}: no segmentation.nii(.gz)"
    return f"{paths.origin}: no label"


def _in_plane_warnings(image: Path, in_plane: Sequence[int]) -> list[str]:
    x, y = (int(v) for v in in_plane)
    if min(x, y) >= MIN_IN_PLANE:
        return []
    return [f"{image}: axial slices are {x}x{y} voxels; below {MIN_IN_PLANE} voxels in-plane they carry almost "
            f"no context for the network"]


def _measure(paths: CasePaths, label_map: dict[int, int] | None, num_classes: int,
             structures: StructureMap | None) -> dict[str, Any]:
    """Read and validate the case (DataError when unusable); the facts the report and the cache keep."""
    volume = load_case(paths.image, paths.label, case_id=paths.case_id, label_map=label_map,
                       num_classes=num_classes, structures=structures,
                       classes=structures.classes if structures is not None else None)
    native = volume.native_affine if volume.native_affine is not None else volume.affine
    counts = None
    if volume.label is not None:
        counts = np.bincount(volume.label.ravel(), minlength=num_classes).tolist()
    return {
        "shape": [int(v) for v in (volume.native_shape or volume.image.shape)],  # the source's own axis order
        "spacing": [float(v) for v in voxel_sizes(native)],
        "orientation": "".join(str(code) for code in nib.aff2axcodes(native)),
        "label_counts": counts,
        "in_plane": [int(v) for v in volume.image.shape[:2]],  # canonical X, Y: what a training slice is
        "absent_classes": [int(c) for c in volume.absent_classes],
        "warnings": list(volume.warnings),
    }


def _from_facts(paths: CasePaths, facts: dict[str, Any]) -> CaseCheck:
    counts = facts["label_counts"]
    return CaseCheck(
        case_id=paths.case_id, image=paths.image, label=paths.label,
        shape=tuple(int(v) for v in facts["shape"]),  # type: ignore[arg-type]
        spacing=tuple(float(v) for v in facts["spacing"]),  # type: ignore[arg-type]
        orientation=str(facts["orientation"]),
        label_counts=None if counts is None else [int(v) for v in counts],
        absent_classes=[int(c) for c in facts.get("absent_classes", [])],
        warnings=[str(w) for w in facts.get("warnings", [])] + _in_plane_warnings(paths.image, facts["in_plane"]),
    )


def _check_one(paths: CasePaths, label_map: dict[int, int] | None, num_classes: int,
               require_label: bool, structures: StructureMap | None) -> tuple[CaseCheck, dict[str, Any] | None]:
    """(the case's check, its facts to cache, or None when it failed)."""
    if paths.label is None and require_label:
        return CaseCheck(paths.case_id, paths.image, None, problem=missing_label_problem(paths)), None
    try:
        facts = _measure(paths, label_map, num_classes, structures)
    except DataError as exc:
        return CaseCheck(paths.case_id, paths.image, paths.label, problem=str(exc)), None
    return _from_facts(paths, facts), facts


def _cache_options(label_map: dict[int, int] | None, num_classes: int,
                   structures: StructureMap | None) -> dict[str, Any]:
    options: dict[str, Any] = {"label_map": None if label_map is None else sorted(label_map.items()),
                               "num_classes": num_classes}
    if structures is not None:  # the rules and the class names they resolve against decide an RTSTRUCT's labels
        options["structures"] = [[list(rule.patterns), rule.class_index] for rule in structures.rules]
        options["classes"] = list(structures.classes)
    return options


def _from_cache(paths: CasePaths, facts: dict[str, Any] | None) -> CaseCheck | None:
    """A cached entry as a check, or None when there is none or it is not of the expected form (then rebuilt)."""
    if facts is None:
        return None
    try:
        if len(facts["shape"]) != 3 or len(facts["spacing"]) != 3 or len(facts["in_plane"]) != 2:
            return None
        return _from_facts(paths, facts)
    except (KeyError, TypeError, ValueError):
        return None


def check_cases(
    cases: Sequence[CasePaths],
    *,
    label_map: dict[int, int] | None = None,
    num_classes: int | None = None,
    require_labels: bool = True,
    cache: CheckCache | bool = True,
    structures: StructureMap | str | Path | None = None,
    classes: Sequence[str] | None = None,
) -> DatasetCheck:
    """Check every case (all of them, not up to the first bad one); passed cases come from and go to the cache.

    ``require_labels``: a case without a label is a failure (training and evaluation need one); without it such a
    case has its image checked only (a set to predict on). ``cache``: True for the user's cache folder, False for
    none, or a :class:`CheckCache` of its own. ``structures`` (``--structures``, parsed against ``classes``) reads
    RTSTRUCT labels; a case with one and no ``structures`` fails with a line naming the option.
    ``num_classes`` defaults to ``len(classes)``, else 3.
    """
    if num_classes is None:
        num_classes = len(classes) if classes is not None else 3
    if not 2 <= num_classes <= 256:
        raise DataError(f"--classes: need 2 to 256 classes for uint8 masks, got {num_classes}")
    mapping = None
    if structures is not None:
        mapping = structure_map(structures, classes or [f"class_{i}" for i in range(num_classes)])
        if mapping.num_classes != num_classes:
            raise DataError(f"--structures: {mapping.num_classes} classes ({', '.join(mapping.classes)}) where "
                            f"--classes has {num_classes}")
    store = cache if isinstance(cache, CheckCache) else (CheckCache() if cache else None)
    options = _cache_options(label_map, num_classes, mapping)
    started = time.perf_counter()
    results: list[CaseCheck | None] = []
    keys: list[str | None] = []
    for paths in cases:
        # a failure without reading anything; failures are never cached
        known_bad = (paths.label is None and require_labels) or (paths.has_rtstruct_label and mapping is None)
        key = store.key(paths.image, paths.label, options) if store is not None and not known_bad else None
        keys.append(key)
        results.append(_from_cache(paths, store.get(key)) if store is not None else None)
    cached = sum(result is not None for result in results)
    todo = [i for i, result in enumerate(results) if result is None]
    for i in tqdm(todo, desc="checking dataset", unit="case", leave=False, dynamic_ncols=True, disable=None):
        if cases[i].has_rtstruct_label and mapping is None:
            results[i] = CaseCheck(cases[i].case_id, cases[i].image, cases[i].label,
                                   problem=str(structures_needed(cases[i].label)))  # type: ignore[arg-type]
            continue
        results[i], facts = _check_one(cases[i], label_map, num_classes, require_labels, mapping)
        if facts is not None and store is not None:
            store.put(keys[i], facts)
    report = DatasetCheck([r for r in results if r is not None], cached=cached,
                          seconds=time.perf_counter() - started)
    log.info("dataset check: %d cases, %d bad, %d from the cache (%.1f s)", len(report.cases),
             len(report.failures), cached, report.seconds)
    return report
