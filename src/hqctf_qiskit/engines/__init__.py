"""Probability engines: the torch statevector engine (exact, default) and, by name, the others."""

from .base import ProbabilityEngine, UnsupportedCircuitError
from .registry import ENGINES, make_engine
from .statevector import StatevectorEngine

__all__ = ["ProbabilityEngine", "UnsupportedCircuitError", "StatevectorEngine", "ENGINES", "make_engine"]
