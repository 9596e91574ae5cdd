"""Engines by name: adding a backend is one entry mapping a name to ``factory(circuit, **options)``."""

from __future__ import annotations

from typing import Any, Callable

from qiskit.circuit import QuantumCircuit

from .base import ProbabilityEngine
from .statevector import StatevectorEngine

EngineFactory = Callable[..., ProbabilityEngine]

ENGINES: dict[str, EngineFactory] = {
    "torch": StatevectorEngine,
}


def make_engine(name: str, circuit: QuantumCircuit, **options: Any) -> ProbabilityEngine:
    try:
        factory = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose from {sorted(ENGINES)}") from None
    return factory(circuit, **options)
