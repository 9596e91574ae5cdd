"""Probability engines: the torch statevector engine (exact, default) and, by name, the others."""

from .backends import (
    BackendError,
    BackendUnavailableError,
    UnknownBackendError,
    make_backend_engine,
    target_backend,
)
from .base import ProbabilityEngine, UnsupportedCircuitError
from .registry import ENGINE_PATTERNS, ENGINES, make_engine
from .sampler import SamplerEngine, ShotsRequiredError
from .shots import ShotsStatevectorEngine
from .statevector import StatevectorEngine

__all__ = [
    "ProbabilityEngine", "UnsupportedCircuitError", "StatevectorEngine", "ShotsStatevectorEngine", "SamplerEngine",
    "ENGINES", "ENGINE_PATTERNS", "make_engine", "make_backend_engine", "target_backend", "BackendError",
    "BackendUnavailableError", "UnknownBackendError", "ShotsRequiredError",
]
