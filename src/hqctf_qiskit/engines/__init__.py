"""Probability engines: the torch statevector engine (exact, default), its shot-sampling variant and the sampler
engine. Which engine runs a named backend is decided in ``backends``."""

from .base import ProbabilityEngine, UnsupportedCircuitError
from .sampler import SamplerEngine, ShotsRequiredError
from .shots import ShotsStatevectorEngine
from .statevector import StatevectorEngine

__all__ = [
    "ProbabilityEngine", "UnsupportedCircuitError", "StatevectorEngine", "ShotsStatevectorEngine", "SamplerEngine",
    "ShotsRequiredError",
]
