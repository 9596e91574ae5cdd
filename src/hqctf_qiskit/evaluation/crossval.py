"""Cross-validation: the runs of one ``--folds K`` split, each evaluated as usual, then mean ± sd over the folds.

Each run keeps its own evaluation folder (``RUN/eval/<split>-<checkpoint>``); the cross-validation summary goes to a
folder of its own. The runs must be the folds of one experiment: same options except ``--fold`` (and the run folder
and device), the same test cases, the same folds — otherwise the spread over folds would mix experiments.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config.files import load_run_config
from ..data.splits import load_splits
from ..errors import ConfigError
from ..io import atomic_write_json, write_csv
from .evaluate import REFUSAL as EVAL_REFUSAL
from .evaluate import evaluate_run
from .metrics import nanmean, nansd
from .outputs import check_free, evaluation_dir, staged_folder

log = logging.getLogger(__name__)
FOLD_FREE_KEYS = ("fold", "out", "device")  # options the runs of one cross-validation may differ in
SD_DEFINITION = "sample standard deviation (n-1) over folds of each run's mean over cases; NaN folds skipped"
REFUSAL = "already holds cross-validation results; pass --overwrite to replace them, or --out DIR for another folder"


def cv_dir(run_dirs: Sequence[Path], split: str, checkpoint: str) -> Path:
    """The default output folder: beside the first run, ``cv-<first run>-<split>-<checkpoint>``."""
    first = Path(run_dirs[0])
    return first.parent / f"cv-{first.name}-{split}-{checkpoint}"


def check_fold_runs(run_dirs: Sequence[Path]) -> list[int | None]:
    """Refuse runs that are not the folds of one experiment (one line naming the odd run); return their folds."""
    if len(run_dirs) < 2:
        raise ConfigError("--cv: give at least two runs (the folds of one --folds K experiment)")
    if len({Path(r).resolve() for r in run_dirs}) != len(run_dirs):
        raise ConfigError("--cv: a run is given twice")
    first = Path(run_dirs[0])
    flat = [load_run_config(Path(r)).to_flat() for r in run_dirs]
    splits = [load_splits(Path(r) / "splits.json") for r in run_dirs]
    for run, options, split in zip(run_dirs[1:], flat[1:], splits[1:]):
        differing = sorted(k for k in options if k not in FOLD_FREE_KEYS and options[k] != flat[0].get(k))
        if differing:
            raise ConfigError(f"{run}: its options differ from {first}'s in {', '.join(differing)}; --cv needs the "
                              "folds of one experiment")
        if sorted(split.get("test", [])) != sorted(splits[0].get("test", [])):
            raise ConfigError(f"{run}: its test cases differ from {first}'s; --cv needs one held-out test set")
        if split.get("folds") != splits[0].get("folds"):
            raise ConfigError(f"{run}: its folds differ from {first}'s (splits.json); --cv needs one fold split")
    folds = [split.get("fold") for split in splits]
    repeated = sorted({f for f in folds if f is not None and folds.count(f) > 1})
    if repeated:
        raise ConfigError(f"--cv: fold {repeated[0]} is given twice")
    return folds


def fold_statistics(means: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per metric: mean and sample sd over folds of the folds' means (NaN folds skipped), and how many counted."""
    names = list(means[0])
    stats = {}
    for name in names:
        values = [float(m.get(name, math.nan)) for m in means]
        stats[name] = {"mean": nanmean(values), "sd": nansd(values),
                       "folds": sum(not math.isnan(v) for v in values)}
    return stats


def cross_validate(
    run_dirs: Sequence[Path], split: str = "val", checkpoint: str = "best", out_dir: Path | None = None,
    device: str = "auto", overwrite: bool = False, data: str | None = None, **evaluate_options: Any,
) -> dict[str, Any]:
    """Evaluate every fold's run (its own evaluation folder; ``evaluate_options`` go to
    :func:`~.evaluate.evaluate_run`), then write ``summary.json`` (mean ± sd per metric) and ``per_fold.csv`` (each
    run's means) to ``out_dir``, which appears only when complete."""
    run_dirs = [Path(r) for r in run_dirs]
    folds = check_fold_runs(run_dirs)
    out_dir = Path(out_dir) if out_dir else cv_dir(run_dirs, split, checkpoint)
    check_free(out_dir, overwrite, REFUSAL)  # before minutes of evaluation, not after
    for run_dir in run_dirs:
        check_free(evaluation_dir(run_dir, split, checkpoint), overwrite, EVAL_REFUSAL)
    summaries = []
    for run_dir, fold in zip(run_dirs, folds):
        log.info("cross-validation: evaluating %s (fold %s)", run_dir, fold)
        summaries.append(evaluate_run(run_dir, data=data, split=split, checkpoint=checkpoint, device=device,
                                      overwrite=overwrite, **evaluate_options))
    means = [s["mean"] for s in summaries]
    stats = fold_statistics(means)
    rows = [{"run": str(r), "fold": "" if f is None else f, "cases": s["cases"], **s["mean"]}
            for r, f, s in zip(run_dirs, folds, summaries)]
    summary = {
        "runs": [str(r) for r in run_dirs], "folds": folds, "split": split, "checkpoint": checkpoint,
        "evaluations": [s["out_dir"] for s in summaries], "metrics": stats, "sd_definition": SD_DEFINITION,
    }
    with staged_folder(out_dir, overwrite, REFUSAL) as staging:
        write_csv(staging / "per_fold.csv", rows, ["run", "fold", "cases", *means[0]])
        atomic_write_json(staging / "summary.json", summary)
    return {**summary, "out_dir": str(out_dir)}
