"""One grid cell of an experiment, start to finish: skip it if finished, else train (new or resumed) and evaluate.

:func:`run_cell` is a module-level function of picklable arguments, so every launcher runs the same body: the local
launcher calls it in this process, the Ray launcher ships it to a worker (on this machine or another one that sees the
same files). Everything a cell needs is in its run folder, so a cell interrupted anywhere (a killed driver, a killed
worker) continues where it stopped on the next run of the experiment.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import HqctfError
from ..training.checkpoint import checkpoint_path
from ..training.ownership import LOCK_NAME
from .results import evaluation_of, run_dir_of

if TYPE_CHECKING:
    from .grid import Cell, ExperimentSpec

log = logging.getLogger(__name__)

STATUS_TEXT = {"done": "finished, skipped", "resume": "resuming", "new": "training"}


def prepare_run(run_dir: Path) -> str:
    """'done' (skip), 'resume', or 'new'.

    A run with its config resumes: from its latest checkpoint, or from step 0 when it was killed before the first one
    (``train --resume`` does that; it takes over the lock of a dead process on this host and refuses while a live one
    owns the folder). Only a folder that never got as far as its config, and that no process holds, is cleared for a
    new start; one with a dead owner's lock is claimed by the new run (see ``training.ownership``).
    """
    if (run_dir / "summary.json").is_file() and checkpoint_path(run_dir, "final").is_file():
        return "done"
    if (run_dir / "config.yaml").is_file():
        return "resume"
    if run_dir.exists() and not (run_dir / LOCK_NAME).exists():
        shutil.rmtree(run_dir)  # nothing of the run was written yet, so nothing is lost
    return "new"


def is_finished(spec: ExperimentSpec, root: Path, cell: Cell) -> bool:
    """Trained to the end and evaluated: nothing left to do (read only; a launcher need not ship it anywhere)."""
    run_dir = run_dir_of(root, *cell)
    return (run_dir / "summary.json").is_file() and checkpoint_path(run_dir, "final").is_file() and (
        evaluation_of(run_dir, spec) / "summary.json").is_file()


def run_cell(spec: ExperimentSpec, root: Path, splits_file: Path, cell: Cell, progress: str = "") -> str:
    """Train (or resume, or skip) and evaluate one cell; returns its status before it ran ('done', 'resume', 'new').

    Bad input (an :class:`HqctfError`) is raised again, of the same class, as one line naming the cell, so a grid of
    many cells says which one failed; anything else (a bug) propagates as it is, with its traceback. ``progress``
    (``[3/10] ``) starts the log line.
    """
    from ..evaluation.evaluate import evaluate_run
    from ..training.loop import train

    run_dir = run_dir_of(root, *cell)
    try:
        status = prepare_run(run_dir)
        log.info("%s%s: %s", progress, cell.name, STATUS_TEXT[status])
        if status == "new":
            train(spec.cell_config(cell, run_dir, splits_file))
        elif status == "resume":
            train(None, resume=run_dir)
        if not (evaluation_of(run_dir, spec) / "summary.json").is_file():  # evaluations appear whole
            evaluate_run(run_dir, split=spec.evaluate_split, device="auto")
    except HqctfError as exc:
        raise type(exc)(f"experiment cell {cell.name}: {exc}") from exc
    return status
