"""One clear line for bad input, a nonzero exit, and no traceback unless --debug."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable

import click

EXPECTED = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError, KeyError)


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EXPECTED as exc:
            ctx = click.get_current_context(silent=True)
            if ctx is not None and ctx.find_root().obj and ctx.find_root().obj.get("debug"):
                raise
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            click.echo(f"error: {message}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stdout,
                        force=True)
    for noisy in ("qiskit", "qiskit_ibm_runtime", "qiskit_aer", "matplotlib", "PIL", "stevedore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
