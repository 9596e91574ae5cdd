"""Patient-level train/val/test splits and their ``splits.json`` file.

Slices of one patient are strongly correlated, so splitting by slice leaks the test set into training;
splits here are always by case id.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..io import atomic_write_text
from .errors import DataError
from .jsonfile import read_json

__all__ = ["SPLIT_NAMES", "load_splits", "make_fold_splits", "make_splits", "save_splits", "select_fold"]

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "val", "test")
FOLD_KEYS = ("folds", "fold")  # optional: the cross-validation folds of train+val and the one validated on


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise DataError(f"{name}: must lie in [0, 1), got {value}")
    return value


def _split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(n_val, n_test): rounded fractions, at least one case each when asked for, at least one left to train."""
    if n == 2:
        return (1 if val_fraction > 0 else 0), 0
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    while n - n_val - n_test < 1:  # shrink the larger held-out split, never below one case
        if n_test >= n_val and n_test > 1:
            n_test -= 1
        elif n_val > 1:
            n_val -= 1
        else:
            break
    return n_val, n_test


def make_splits(
    case_ids: list[str], seed: int, val_fraction: float = 0.2, test_fraction: float = 0.2
) -> dict[str, list[str]]:
    """Seeded split of case ids into ``train``/``val``/``test``; the same ids and seed give the same split.

    The result does not depend on the order of ``case_ids``. With 3 or more cases every requested split gets at
    least one case; with 2 cases it is train/val with an empty test split.
    """
    ids = [str(c) for c in case_ids]
    if len(set(ids)) != len(ids):
        duplicates = sorted({c for c in ids if ids.count(c) > 1})
        raise DataError(f"make_splits: duplicate case ids {duplicates}")
    if len(ids) < 2:
        raise DataError(f"make_splits: need at least 2 cases to split by patient, got {len(ids)}")
    val_fraction = _check_fraction("val_fraction", val_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1.0:
        raise DataError(f"val_fraction + test_fraction: must be below 1, got {val_fraction + test_fraction}")

    order = sorted(ids)
    random.Random(int(seed)).shuffle(order)
    n_val, n_test = _split_sizes(len(order), val_fraction, test_fraction)
    splits = {
        "train": sorted(order[n_val + n_test:]),
        "val": sorted(order[:n_val]),
        "test": sorted(order[n_val:n_val + n_test]),
    }
    logger.info("split %d cases (seed %d): %s", len(ids), seed,
                ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    return splits


def make_fold_splits(
    case_ids: list[str], seed: int, folds: int, fold: int, val_fraction: float = 0.2, test_fraction: float = 0.2
) -> dict[str, Any]:
    """Patient-level cross-validation: the test split of :func:`make_splits` (same ids, seed and fractions) is held
    out as in a plain run; the other cases are dealt into ``folds`` folds (seeded, independent of input order);
    fold ``fold`` is validation, the others training. Every fold is listed, so the runs of one seed agree."""
    test = make_splits(case_ids, seed, val_fraction=val_fraction, test_fraction=test_fraction)["test"]
    rest = sorted(set(map(str, case_ids)) - set(test))
    if not 2 <= folds <= len(rest):
        raise DataError(f"--folds: {folds} folds need at least {folds} non-test cases (there are {len(rest)}) "
                        "and at least 2 folds")
    if not 0 <= fold < folds:
        raise DataError(f"--fold: {fold} is out of range for --folds {folds} (0 to {folds - 1})")
    random.Random(int(seed)).shuffle(rest)
    fold_lists = [sorted(rest[i::folds]) for i in range(folds)]
    logger.info("%d folds of %d non-test cases (seed %d); validating on fold %d", folds, len(rest), seed, fold)
    return select_fold({"test": test, "folds": fold_lists}, fold)


def select_fold(splits: dict[str, Any], fold: int, folds: int | None = None) -> dict[str, Any]:
    """``splits`` with fold ``fold`` of its ``folds`` as validation and the other folds as training; ``folds``: the
    number of folds the caller expects (``--folds``), checked against the split file's."""
    fold_lists = splits.get("folds")
    if not fold_lists:
        raise DataError("--fold: the split file lists no folds (write one with --folds K)")
    if folds is not None and folds != len(fold_lists):
        raise DataError(f"--folds: {folds}, but the split file lists {len(fold_lists)} folds")
    if not 0 <= fold < len(fold_lists):
        raise DataError(f"--fold: {fold} is out of range for the {len(fold_lists)} folds of the split file "
                        f"(0 to {len(fold_lists) - 1})")
    train = sorted(c for i, ids in enumerate(fold_lists) if i != fold for c in ids)
    return {"train": train, "val": list(fold_lists[fold]), "test": list(splits.get("test", [])),
            "folds": [list(ids) for ids in fold_lists], "fold": fold}


def _validate_folds(splits: dict[str, Any], clean: dict[str, Any], source: str) -> None:
    """``folds`` partition train+val and ``fold`` names the validation fold, so train/val follow from them."""
    fold_lists, fold = splits.get("folds"), splits.get("fold")
    if fold_lists is None and fold is None:
        return
    if (not isinstance(fold_lists, list) or len(fold_lists) < 2
            or not all(isinstance(ids, list) and all(isinstance(c, str) for c in ids) for ids in fold_lists)):
        raise DataError(f"{source}: 'folds' must be a list of at least 2 lists of case id strings")
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < len(fold_lists):
        raise DataError(f"{source}: 'fold' must be a fold number from 0 to {len(fold_lists) - 1}, got {fold!r}")
    in_folds = [c for ids in fold_lists for c in ids]
    if len(set(in_folds)) != len(in_folds) or set(in_folds) != set(clean["train"]) | set(clean["val"]):
        raise DataError(f"{source}: 'folds' must split the train and val cases into disjoint folds")
    if set(fold_lists[fold]) != set(clean["val"]):
        raise DataError(f"{source}: 'val' must be fold {fold} of 'folds'")
    clean["folds"] = [list(ids) for ids in fold_lists]
    clean["fold"] = fold


def _validate(splits: object, source: str, known_case_ids: Iterable[str] | None) -> dict[str, Any]:
    """Structure, overlap and known-id checks shared by save and load."""
    if not isinstance(splits, dict):
        raise DataError(f"{source}: expected an object with keys {list(SPLIT_NAMES)}")
    unknown_keys = sorted(set(splits) - set(SPLIT_NAMES) - set(FOLD_KEYS))
    missing_keys = [k for k in ("train", "val") if k not in splits]
    if unknown_keys or missing_keys:
        raise DataError(f"{source}: expected keys {list(SPLIT_NAMES)} (test optional), "
                        f"missing {missing_keys}, unexpected {unknown_keys}")
    clean: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for name in SPLIT_NAMES:
        ids = splits.get(name, [])
        if not isinstance(ids, list) or not all(isinstance(c, str) for c in ids):
            raise DataError(f"{source}: '{name}' must be a list of case id strings")
        for case_id in ids:
            if case_id in owner:
                where = "twice in" if owner[case_id] == name else f"in both '{owner[case_id]}' and"
                raise DataError(f"{source}: case {case_id!r} appears {where} '{name}'")
            owner[case_id] = name
        clean[name] = list(ids)
    if known_case_ids is not None:
        unknown = sorted(set(owner) - set(known_case_ids))
        if unknown:
            shown = unknown[:10]
            more = f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
            raise DataError(f"{source}: unknown case ids {shown}{more}")
    _validate_folds(splits, clean, source)
    return clean


def save_splits(splits: dict[str, Any], path: str | Path) -> Path:
    """Write ``splits.json`` atomically (temp file then rename), so a crash never leaves half a file."""
    path = Path(path)
    clean = _validate(splits, str(path), None)
    return atomic_write_text(path, json.dumps(clean, indent=2) + "\n")


def load_splits(path: str | Path, known_case_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """Read and validate ``splits.json``; with ``known_case_ids``, every listed case must be one of them."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    data = read_json(path)
    return _validate(data, str(path), known_case_ids)
