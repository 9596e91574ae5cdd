"""Where results folders go, and how they appear: whole or not at all, never over earlier results.

Each evaluation has a folder of its own, named after what was evaluated (:func:`evaluation_name`), so ``--split val``
then ``--split test`` (or another checkpoint, or a hardware trial) keep each other's results. A results folder is
written under a temporary name beside its final one and renamed into place when complete (:func:`staged_folder`):
a full disk, a read-only file system or a kill leaves no half folder under the final name — only a hidden temporary
folder whose name holds :data:`~hqctf_qiskit.io.TEMP_MARK` after a kill — and a folder that already holds something
is replaced only when asked (``--overwrite``), and then only once the new results are complete.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..io import TEMP_MARK, fsync_dir

EVAL_DIR = "eval"


def evaluation_name(split: str, checkpoint: str, weights_from: str | None = None, shots: int | None = None,
                    mitigation: str = "none") -> str:
    """``val-best``; with a hardware trial ``test-best-fake_brisbane-4096shots`` (``-exact`` without shots), and
    ``-m3`` / ``-readout`` with readout mitigation."""
    name = f"{split}-{checkpoint}"
    if weights_from:
        name += f"-{weights_from}-" + (f"{shots}shots" if shots else "exact")
        name += f"-{mitigation}" if mitigation != "none" else ""
    return name


def evaluation_dir(run_dir: Path, split: str, checkpoint: str, weights_from: str | None = None,
                   shots: int | None = None, mitigation: str = "none") -> Path:
    """The default results folder of one evaluation of a run: ``RUN/eval/<evaluation_name>``."""
    return Path(run_dir) / EVAL_DIR / evaluation_name(split, checkpoint, weights_from, shots, mitigation)


def _holds_something(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def check_free(target: Path, overwrite: bool, refusal: str) -> None:
    """Refuse a ``target`` that is a file, or a folder holding something unless ``overwrite`` (``refusal``: what to
    tell the user after the folder's name)."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", str(target))
    if _holds_something(target) and not overwrite:
        raise FileExistsError(f"{target}: {refusal}")


def _sibling(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.{kind}{TEMP_MARK}")


def _make_staging(target: Path) -> Path:
    """An empty folder beside ``target`` (same file system, so the final rename is atomic); ``os.mkdir`` gives it
    the usual permissions under the umask."""
    while True:
        staging = _sibling(target, "new")
        try:
            os.mkdir(staging)
            return staging
        except FileExistsError:
            continue


def _publish(staging: Path, target: Path, overwrite: bool, refusal: str) -> None:
    """Rename ``staging`` to ``target``; a target holding something is checked again (another process may have
    written it meanwhile) and moved aside only with ``overwrite``, then removed once the new folder is in place."""
    if _holds_something(target):
        if not overwrite:
            raise FileExistsError(f"{target}: {refusal}")
        old = _sibling(target, "old")
        os.rename(target, old)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        try:
            os.rename(staging, target)  # a missing or empty target folder is replaced
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):  # filled by someone else since the check
                raise FileExistsError(f"{target}: {refusal}") from None
            raise
    fsync_dir(target.parent)


def _name_the_target(exc: OSError, staging: Path, target: Path) -> None:
    """An error about a file in the staging folder names that file where the user will look for it."""
    for attribute in ("filename", "filename2"):
        name = getattr(exc, attribute, None)
        if name is not None and str(name).startswith(str(staging)):
            setattr(exc, attribute, str(target) + str(name)[len(str(staging)):])


@contextmanager
def staged_folder(target: Path, overwrite: bool = False,
                  refusal: str = "already exists and is not empty") -> Iterator[Path]:
    """Yield an empty folder to write results into; when the block ends without error it becomes ``target``.

    A ``target`` holding something is refused (``FileExistsError``: ``<target>: <refusal>``) unless ``overwrite``;
    on any error the staging folder is removed and ``target`` is left as it was.
    """
    target = Path(target)
    check_free(target, overwrite, refusal)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = None
    try:
        staging = _make_staging(target)
        yield staging
        _publish(staging, target, overwrite, refusal)
    except BaseException as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError):
                _name_the_target(exc, staging, target)
        elif isinstance(exc, OSError) and exc.filename is not None and TEMP_MARK in str(exc.filename):
            exc.filename = str(target)
        raise
