"""From a config to cases: the data source (or the cached phantom), checked up front; patient splits; volumes.

Any layout the data layer reads (KiTS, DICOM patient folders, nnU-Net, MSD, case lists) goes through here the same
way; a dataset.json's class names become the run's classes when ``--classes`` is not given
(:func:`with_dataset_classes`), and RTSTRUCT labels are read with ``--structures``.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..cache import cache_dir
from ..config.schema import DEFAULT_CLASSES, TrainConfig
from ..data import (
    CasePaths, CaseVolume, DataError, DatasetCheck, DatasetInfo, check_cases, describe_dataset, load_case,
    load_splits, make_splits, parse_label_map, save_splits, write_phantom_dataset,
)
from ..data.cases import structures_needed
from ..data.preprocessing import median_inplane_spacing
from ..data.check import missing_label_problem
from ..data.splits import make_fold_splits, select_fold
from ..data.dicom import StructureMap, structure_map
from ..data.layouts.dataset_json import check_classes, classes_from_labels
from ..errors import ConfigError

log = logging.getLogger(__name__)
PHANTOM_VERSION = 3  # bump whenever phantom.py draws differently: caches are keyed by it
PHANTOM_SEED = 0
SHOWN_WARNINGS = 3  # dataset warnings logged one by one; the rest are counted (check-data lists them all)


def _complete(folder: Path, cases: int) -> bool:
    """The last file the phantom writer writes is there."""
    return (folder / f"case_{cases - 1:05d}" / "segmentation.nii.gz").is_file()


def phantom_dataset(cases: int) -> Path:
    """The embedded default dataset: generated once per machine (atomically), then reused.

    Several processes may generate it at once (DDP ranks, parallel tests): each writes its own staging folder and the
    first to rename it into place wins; the others find a complete dataset there and discard theirs (same seed, same
    arrays), so a folder another process is reading is never removed.
    """
    target = cache_dir() / f"phantom-v{PHANTOM_VERSION}-seed{PHANTOM_SEED}-n{cases}"
    if _complete(target, cases):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".phantom-", dir=target.parent))
    try:
        write_phantom_dataset(staging, cases=cases, seed=PHANTOM_SEED)
        if target.exists() and not _complete(target, cases):  # a partial folder of an old version: replace it
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:  # a non-empty target: another process installed it meanwhile
            if not _complete(target, cases):
                raise
            return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("generated the phantom dataset (%d cases) in %s", cases, target)
    return target


def data_source(config: TrainConfig) -> Path:
    data = config.data
    return Path(data.source) if data.source else phantom_dataset(data.phantom_cases)


def resolve_splits(config: TrainConfig, cases: list[CasePaths], run_dir: Path | None) -> dict[str, Any]:
    """Reuse ``--splits``, else the run's ``splits.json``, else a new seeded split by case.

    With ``--folds K --fold k`` a new split holds out the usual test cases and cross-validates on the rest; a reused
    split file that lists folds gives fold ``k`` of its own folds (``--fold`` picks the fold, the file the cases).
    """
    ids = [c.case_id for c in cases]
    data = config.data
    existing = run_dir / "splits.json" if run_dir else None
    if data.splits:
        splits = load_splits(data.splits, known_case_ids=ids)
        return select_fold(splits, data.fold, data.folds) if data.fold is not None else splits
    if existing is not None and existing.is_file():
        return load_splits(existing, known_case_ids=ids)
    if data.folds is not None and data.fold is not None:
        return make_fold_splits(ids, seed=config.optim.seed, folds=data.folds, fold=data.fold,
                                val_fraction=data.val_fraction, test_fraction=data.test_fraction)
    return make_splits(ids, seed=config.optim.seed, val_fraction=data.val_fraction,
                       test_fraction=data.test_fraction)


def write_splits(splits: dict[str, Any], run_dir: Path) -> None:
    save_splits(splits, run_dir / "splits.json")


def structures_of(config: TrainConfig) -> StructureMap | None:
    """``--structures`` parsed against ``--classes`` (one line when a rule is malformed), or None when not given."""
    data = config.data
    return structure_map(data.structures, data.classes) if data.structures else None


def load_cases(config: TrainConfig, cases: list[CasePaths], ids: list[str], split: str) -> list[CaseVolume]:
    """The labelled volumes of ``ids`` (one split); RTSTRUCT cases record the classes they lack (NaN metrics)."""
    if not ids:
        raise DataError(f"the {split} split is empty: need more cases (or other --val-fraction/--test-fraction)")
    by_id = {c.case_id: c for c in cases}
    label_map = parse_label_map(config.data.label_map)
    structures = structures_of(config)
    volumes = []
    for case_id in ids:
        paths = by_id[case_id]
        if paths.label is None:
            raise DataError(missing_label_problem(paths))
        volumes.append(
            load_case(paths.image, paths.label, case_id=case_id, label_map=label_map,
                      num_classes=len(config.data.classes), structures=structures, classes=config.data.classes)
        )
    return volumes


def resolve_spacing(config: TrainConfig, cases: list[CaseVolume]) -> TrainConfig:
    """``--spacing auto`` made a number: the median in-plane spacing of ``cases``; any other value as it is.

    The run passes its training and validation cases: every fold of one cross-validation then gets the same
    spacing (its folds share all options), as nnU-Net takes its target spacing from the whole training set. Only
    the headers' spacings are used, no labels. The number goes into the run's config.yaml, so prediction, a resumed
    run and an export use the spacing the network was trained at.
    """
    if config.data.spacing != "auto":
        return config
    spacing = median_inplane_spacing(case.spacing for case in cases)
    log.info("--spacing auto: %g mm per pixel in-plane (the median of %d cases)", spacing, len(cases))
    return config.with_options(spacing=spacing)


def check_patch_size(config: TrainConfig) -> None:
    """Refuse a ``--patch-size`` the network cannot take; warn below its downsampling, where it runs but sees little.

    Most smp architectures insist on sizes divisible by their encoder's output stride (32 for a depth-5 encoder, 16
    for DeepLabV3+, 8 for PSPNet) and fail in their first forward pass otherwise; a Unet takes any size, but below
    the stride its deepest features are a single pixel. The network only ever sees patch-sized inputs (training
    crops, sliding windows at prediction), so this one size is all there is to check. The real model is built (with
    the random state put back, so the run's seeded initialisation is unchanged) so the rule is the network's own.
    """
    import torch

    from ..models import build_model

    model_config, size = config.model, config.data.patch_size
    with torch.random.fork_rng(devices=[]):  # not on the meta device: some encoders (mit_b*) need real tensors
        model = build_model(model_config.arch, model_config.encoder, in_channels=1,
                            classes=len(config.data.classes))
    stride = int(getattr(model.encoder, "output_stride", 32))
    if getattr(model, "requires_divisible_input_shape", True) and size % stride:
        below = size // stride * stride
        choices = " or ".join(str(v) for v in (below, below + stride) if v >= stride)
        raise ConfigError(f"--patch-size: {size} is not a multiple of {stride}, which {model_config.arch} with "
                          f"encoder {model_config.encoder} needs; use {choices}")
    if size < stride:
        log.warning("--patch-size %d is below %d, the downsampling of encoder %s: its deepest features are a single "
                    "pixel; use %d or more", size, stride, model_config.encoder, stride)


def check_dataset(config: TrainConfig, cases: list[CasePaths]) -> DatasetCheck:
    """Check every case with the config's label map and classes (cached); warnings are logged, failures returned."""
    data = config.data
    report = check_cases(cases, label_map=parse_label_map(data.label_map), num_classes=len(data.classes),
                         require_labels=True, structures=structures_of(config), classes=data.classes)
    warnings = report.warnings
    for warning in warnings[:SHOWN_WARNINGS]:
        log.warning("%s", warning)
    if len(warnings) > SHOWN_WARNINGS:
        log.warning("... and %d more dataset warnings ('%s' lists them all)", len(warnings) - SHOWN_WARNINGS,
                    check_data_command(config))
    return report


def check_data_command(config: TrainConfig) -> str:
    """The ``hqctf check-data`` line that lists every bad case of this config's dataset."""
    data = config.data
    parts = ["hqctf", "check-data", str(data_source(config))]
    if data.label_map:
        parts += ["--label-map", data.label_map]
    if data.structures:
        parts += ["--structures", data.structures]
    if list(data.classes) != list(DEFAULT_CLASSES):
        parts += ["--classes", ",".join(data.classes)]
    return shlex.join(parts)


def with_dataset_classes(config: TrainConfig, info: DatasetInfo | None = None) -> TrainConfig:
    """``config`` with the class names of its dataset.json (nnU-Net, MSD) when ``--classes`` was not given.

    Call it where a run's config is made, before anything reads ``config.data.classes``: the run's config.yaml
    then records the dataset's classes. ``--classes`` given (or a config read from a run folder, where every
    option is set) is kept and checked against the dataset by :func:`discover`. ``info``: the dataset, when the
    caller has already described it.
    """
    data = config.data
    if "classes" in data.model_fields_set or not data.source:
        return config
    info = info or describe_dataset(data.source)
    if info.labels is None:
        return config
    if data.label_map:
        raise DataError(f"--label-map: give --classes too: with a label map the classes of {info.source} "
                        f"({','.join(info.labels)}) are no longer its label values")
    classes = classes_from_labels(info.labels, info.source)
    log.info("classes from %s: %s", info.source, ",".join(classes))
    return config.with_options(classes=classes)


def check_layout(config: TrainConfig, info: DatasetInfo) -> None:
    """What the layout asks of the options: the classes of a dataset.json, ``--structures`` for RTSTRUCT labels."""
    data = config.data
    if info.labels is not None:
        check_classes(info.labels, info.source, data.classes, parse_label_map(data.label_map))
    if not data.structures:
        rtstruct = next((case.label for case in info.cases if case.has_rtstruct_label), None)
        if rtstruct is not None:
            raise structures_needed(rtstruct)


def discover(config: TrainConfig) -> list[CasePaths]:
    """The dataset's cases, every one checked up front, and the patch size checked against the network.

    All splits are checked (nnU-Net's integrity check is the model), so a broken test case fails training before a
    run writes anything instead of failing evaluation later; a repeated run reads no volume for it (the check is
    cached per file). Bad input raises one line naming the first bad file and counting the others.
    """
    source = data_source(config)
    info = describe_dataset(source)
    cases = info.cases
    check_layout(config, info)
    structures_of(config)  # a malformed --structures fails before the network is built
    check_patch_size(config)
    check_dataset(config, cases).raise_first_failure(source, hint=check_data_command(config))
    return cases
