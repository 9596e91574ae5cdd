"""Probability engines: the torch statevector engine (exact, default), its shot-sampling variant and the sampler
engine; their gradients and the per-step cost model. Which engine runs a named backend is decided in ``backends``.

The names below are loaded on first use (PEP 562), so light modules (``engines.cost``, ``engines.base``) can be
imported, e.g. by the config's validation, without loading qiskit.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "ProbabilityEngine": ".base", "UnsupportedCircuitError": ".base", "ShotsRequiredError": ".base",
    "close_engine": ".base", "StatevectorEngine": ".statevector", "ShotsStatevectorEngine": ".shots",
    "SamplerEngine": ".sampler", "GRADIENTS": ".cost", "StepCost": ".cost", "step_cost": ".cost",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
