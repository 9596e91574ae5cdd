"""The command line's error boundary: one line for what the user can fix, a traceback for a bug.

- :class:`~hqctf_qiskit.errors.HqctfError` (bad input, a missing account, a busy run folder), click usage errors and
  well-understood OS conditions (file not found or already there, permission denied, not a folder / a folder, no
  space left on device, read-only file system) print ``error: <file or option>: <problem>`` and exit 2.
- Anything else is a bug: its traceback, one line asking to report it, exit 1.
- ``--debug`` re-raises everything with its traceback; Ctrl-C exits 130.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, Callable

import click

from ..errors import HqctfError

USER_ERROR_EXIT, BUG_EXIT, INTERRUPTED_EXIT = 2, 1, 130
BUG_LINE = "hqctf: internal error (a bug): please report it with the traceback above"

# OS conditions a user can fix (free space, another folder, permissions), whatever exception class carries them
USER_OS_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, NotADirectoryError, IsADirectoryError)
USER_ERRNOS = frozenset({errno.ENOENT, errno.EEXIST, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR,
                         errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def is_user_error(exc: BaseException) -> bool:
    """True for what the user can fix: an HqctfError or a well-understood OS condition."""
    if isinstance(exc, HqctfError):
        return True
    return isinstance(exc, USER_OS_ERRORS) or (isinstance(exc, OSError) and exc.errno in USER_ERRNOS)


def user_message(exc: BaseException) -> str:
    """The one line after ``error: ``: ``<filename>: <strerror>`` for an OS error that names its file, else the
    exception's own first line."""
    if isinstance(exc, OSError) and exc.strerror:
        where = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
        return f"{' -> '.join(where)}: {exc.strerror}" if where else exc.strerror
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _debug_requested() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().obj if ctx is not None else None
    return bool(isinstance(root, dict) and root.get("debug"))


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a click command in the error boundary described in the module docstring."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors and click's own exits: run_main prints them
        except KeyboardInterrupt:
            if _debug_requested():
                raise
            click.echo("interrupted", err=True)
            sys.exit(INTERRUPTED_EXIT)
        except Exception as exc:
            if _debug_requested():
                raise
            if is_user_error(exc):
                click.echo(f"error: {user_message(exc)}", err=True)
                sys.exit(USER_ERROR_EXIT)
            click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
            click.echo(BUG_LINE, err=True)
            sys.exit(BUG_EXIT)

    return wrapper


def run_main(cli: click.Group, argv: Sequence[str] | None = None) -> None:
    """Run the ``hqctf`` group: click usage errors become one ``error:`` line (exit 2), an abort exits 130."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="hqctf", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(INTERRUPTED_EXIT)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


def setup_logging(verbose: bool) -> None:
    """Log lines on stdout: INFO (DEBUG with ``-v``) on rank 0; under ``torchrun`` (``$RANK``, read now) the other
    ranks log warnings and errors only, prefixed with their rank."""
    rank = int(os.environ.get("RANK", "0") or 0)
    level = (logging.DEBUG if verbose else logging.INFO) if rank == 0 else logging.WARNING
    prefix = "" if rank == 0 else f"[rank {rank}] "
    logging.basicConfig(level=level, format=f"{prefix}%(message)s", stream=sys.stdout, force=True)
    for noisy in ("qiskit", "qiskit_ibm_runtime", "qiskit_aer", "matplotlib", "PIL", "stevedore", "urllib3", "highdicom",
                  "pydicom"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
