"""What every backend family shares: its errors, and what an opened backend hands a session (``SamplerBackend``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendError

__all__ = ["BackendError", "UnknownBackendError", "BackendUnavailableError", "SamplerBackend"]


class UnknownBackendError(BackendError):
    """No backend of that name."""


class BackendUnavailableError(BackendError):
    """The backend exists but cannot run here (no GPU Aer, no IBM account or network, device not offered)."""


@dataclass
class SamplerBackend:
    """An opened sampler backend, shared by every engine of a session.

    ``backend``: what the engines transpile for (a device, or an AerSimulator that also runs exact mode);
    ``max_width``: the widest packed circuit it may simulate; ``reseed(seed)``: called before each sampler call
    (simulators); ``close()``: releases it (the IBM Batch); ``engine_options``: extra ``SamplerEngine`` options.
    """

    name: str
    sampler: Any
    backend: Any
    max_width: int | None = None
    reseed: Callable[[int], None] | None = None
    close: Callable[[], None] | None = None
    engine_options: dict[str, Any] = field(default_factory=dict)
