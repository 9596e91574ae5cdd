"""The one base of every error the user can fix (bad input, a missing account, a busy run folder).

The CLI prints an :class:`HqctfError` as one line ``error: <file or option>: <problem>`` and exits 2. Any other
exception is a bug: the CLI shows its traceback and asks for a report. So library code raises an ``HqctfError``
subclass for anything a user's input or environment causes, and lets everything else propagate.

Each subclass also derives from ``ValueError`` (as the classes it replaced did), so callers and tests that catch
``ValueError`` keep working.
"""

from __future__ import annotations

__all__ = ["HqctfError", "ConfigError", "DataError", "BackendError", "CheckpointError", "RunFolderError"]


class HqctfError(Exception):
    """Bad input or an environment problem the user can fix; the message is one line naming the file or option."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split("\n")).strip())


class ConfigError(HqctfError, ValueError):
    """A bad option value; the message names the option (and the config file when it came from one)."""


class DataError(HqctfError, ValueError):
    """Bad input data or a bad data option; the message names the file."""


class BackendError(HqctfError, ValueError):
    """A backend cannot be used as asked; the message names the option to change."""


class CheckpointError(HqctfError, ValueError):
    """A checkpoint that is missing, truncated or not ours."""


class RunFolderError(HqctfError, ValueError):
    """A run folder that cannot be used as asked (not a run, not empty, owned by another process)."""
