"""Backends by name (``torch``, ``aer_*``, ``fake_*``, ``ibm_*``): the one table of names, and engines for them."""

from .engines import ENGINE_PATTERNS, ENGINES, make_engine
from .registry import (
    BackendError,
    BackendUnavailableError,
    UnknownBackendError,
    make_backend_engine,
    target_backend,
)

__all__ = [
    "ENGINES", "ENGINE_PATTERNS", "make_engine", "make_backend_engine", "target_backend", "BackendError",
    "BackendUnavailableError", "UnknownBackendError",
]
