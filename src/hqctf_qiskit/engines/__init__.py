"""Probability engines: the torch statevector engine (exact, default), its shot-sampling variant and the sampler
engine; their gradients and the per-step cost model. Which engine runs a named backend is decided in ``backends``.

The names below are loaded on first use (PEP 562), so light modules (``engines.cost``, ``engines.base``) can be
imported, e.g. by the config's validation, without loading qiskit.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ProbabilityEngine": ".base", "UnsupportedCircuitError": ".base", "ShotsRequiredError": ".base",
    "close_engine": ".base", "StatevectorEngine": ".statevector", "ShotsStatevectorEngine": ".shots",
    "SamplerEngine": ".sampler", "GRADIENTS": ".cost", "StepCost": ".cost", "step_cost": ".cost",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
