"""Engines by name: adding a backend is one entry mapping a name (or a name prefix) to ``factory(circuit, **options)``.

``torch`` and the Aer simulators are names; ``fake_<device>`` and ``ibm_<device>`` are prefixes. The factories
import qiskit_aer / qiskit_ibm_runtime only when called (see ``backends``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from qiskit.circuit import QuantumCircuit

from .registry import SAMPLER_PATTERNS, UnknownBackendError, backend_choices, make_backend_engine
from ..engines.base import ProbabilityEngine

EngineFactory = Callable[..., ProbabilityEngine]

ENGINES: dict[str, EngineFactory] = {
    name: functools.partial(make_backend_engine, name) for name in ("torch", "aer_simulator", "aer_simulator_gpu")
}
ENGINE_PATTERNS: dict[str, Callable[[str], EngineFactory]] = {
    prefix: (lambda name: functools.partial(make_backend_engine, name)) for prefix in SAMPLER_PATTERNS
}


def engine_factory(name: str) -> EngineFactory:
    """The factory for a backend name: an exact entry, else the first matching prefix."""
    if name in ENGINES:
        return ENGINES[name]
    for prefix, factory_for in ENGINE_PATTERNS.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return factory_for(name)
    raise UnknownBackendError(f"--backend: unknown backend {name!r}; choose from {backend_choices()}")


def make_engine(name: str, circuit: QuantumCircuit, **options: Any) -> ProbabilityEngine:
    return engine_factory(name)(circuit, **options)
