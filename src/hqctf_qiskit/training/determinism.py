"""Deterministic torch algorithms for the length of one run, and the process's own settings back afterwards.

``torch.use_deterministic_algorithms`` and the cuDNN flags are process-wide: a library that set them and left them
would change the numbers (and speed) of whatever the caller runs next. So a run sets them on entry and restores
what it found on exit, whether it returns or raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def deterministic_algorithms(enabled: bool) -> Iterator[None]:
    """Inside: deterministic algorithms (warn-only: an op without a deterministic form warns instead of failing)
    when ``enabled``; otherwise the flags are left as they are. On exit every flag is what it was on entry."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        if enabled:
            torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]
