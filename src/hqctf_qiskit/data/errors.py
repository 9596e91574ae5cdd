"""The one exception type the data layer raises for bad input."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad input data or a bad data option.

    The message is a single line that names the file (or the option) and the problem, so a CLI can print it as is
    and a user knows which file to open. Line breaks in the message are folded into spaces to keep that promise.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).splitlines()))
