"""From a config to cases: the data source (or the cached phantom), patient splits, loaded volumes."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from ..cache import cache_dir
from ..data import (
    CasePaths, CaseVolume, DataError, discover_cases, load_case, load_splits, make_splits, parse_label_map,
    save_splits, write_phantom_dataset,
)
from ..config.schema import TrainConfig

log = logging.getLogger(__name__)
PHANTOM_VERSION = 2  # bump whenever phantom.py draws differently: caches are keyed by it
PHANTOM_SEED = 0


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


def resolve_splits(config: TrainConfig, cases: list[CasePaths], run_dir: Path | None) -> dict[str, list[str]]:
    """Reuse ``--splits``, else the run's ``splits.json``, else a new seeded split by case."""
    ids = [c.case_id for c in cases]
    existing = run_dir / "splits.json" if run_dir else None
    if config.data.splits:
        return load_splits(config.data.splits, known_case_ids=ids)
    if existing is not None and existing.is_file():
        return load_splits(existing, known_case_ids=ids)
    return make_splits(ids, seed=config.optim.seed, val_fraction=config.data.val_fraction,
                       test_fraction=config.data.test_fraction)


def write_splits(splits: dict[str, list[str]], run_dir: Path) -> None:
    save_splits(splits, run_dir / "splits.json")


def load_cases(config: TrainConfig, cases: list[CasePaths], ids: list[str], split: str) -> list[CaseVolume]:
    if not ids:
        raise DataError(f"the {split} split is empty: need more cases (or other --val-fraction/--test-fraction)")
    by_id = {c.case_id: c for c in cases}
    label_map = parse_label_map(config.data.label_map)
    volumes = []
    for case_id in ids:
        paths = by_id[case_id]
        if paths.label is None:
            raise DataError(f"{paths.image}: case {case_id} has no label file")
        volumes.append(
            load_case(paths.image, paths.label, case_id=case_id, label_map=label_map,
                      num_classes=len(config.data.classes))
        )
    return volumes


def discover(config: TrainConfig) -> list[CasePaths]:
    cases = discover_cases(data_source(config))
    if not cases:
        raise DataError(f"{data_source(config)}: no cases found")
    return cases
