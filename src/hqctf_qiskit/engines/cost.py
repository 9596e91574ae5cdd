"""The per-step cost model of a sampler engine: circuit executions per training step, by gradient and packing.

Written once and used by the engine (``SamplerEngine.circuits_per_step``), the circuit report and the IBM cost guard,
so what a user is told a run costs is what the engine submits. The two numbers it takes from the user, the gradient
method and the shots, are validated here once (``backends.spec`` and the engines call these checks). Pure Python:
importing it loads no qiskit.

- forward: every channel's circuit once (B parameter sets);
- backward: ``param-shift`` needs 2·P shifted parameter sets per channel (P circuit parameters), ``spsa`` needs
  2·samples perturbed sets per channel whatever P is;
- packing: ``slots`` channels share one wide circuit and its shots (disjoint qubit lines, counts marginalized per
  register), so each pass runs ceil(parameter sets / slots) circuits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import BackendError

ROWS_PER_CHANNEL: dict[str, Callable[[int, int], int]] = {
    "param-shift": lambda num_parameters, spsa_samples: 2 * num_parameters,
    "spsa": lambda num_parameters, spsa_samples: 2 * spsa_samples,
}
"""Gradient method → parameter sets one channel needs for one backward pass (P parameters, SPSA samples)."""

GRADIENTS = tuple(ROWS_PER_CHANNEL)

JOBS_PER_FORWARD = 1
"""Sampler jobs one layer's engine submits for a forward pass (all its parameter sets in one PUB): the trial's."""
JOBS_PER_STEP = 2
"""Sampler jobs one layer's engine submits per training step: one for the forward pass, one for the backward."""


def check_gradient(gradient: str) -> str:
    """``gradient`` if it names a gradient method, else a one-line error naming ``--gradient``."""
    if gradient not in ROWS_PER_CHANNEL:
        raise BackendError(f"--gradient: unknown value {gradient!r}; choose from {', '.join(GRADIENTS)}")
    return gradient


def check_shots(shots: int | None) -> int | None:
    """``shots`` if it is None (exact) or a positive integer, else a one-line error naming ``--shots``."""
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise BackendError(f"--shots: must be a positive integer, got {shots!r}")
    return shots


def rows_per_channel(gradient: str, num_parameters: int, spsa_samples: int = 1) -> int:
    """Circuit parameter sets one channel needs for one backward pass."""
    return ROWS_PER_CHANNEL[check_gradient(gradient)](num_parameters, spsa_samples)


@dataclass(frozen=True)
class StepCost:
    """Circuit executions (bound parameter sets) per training step for one layer."""

    forward: int
    backward: int

    @property
    def total(self) -> int:
        return self.forward + self.backward

    def to_dict(self) -> dict[str, int]:
        return {"forward": self.forward, "backward": self.backward, "total": self.total}


def step_cost(channels: int, num_parameters: int, gradient: str, slots: int = 1, spsa_samples: int = 1) -> StepCost:
    """Forward and backward circuit executions of one training step for ``channels`` channels (see module doc)."""
    rows = rows_per_channel(gradient, num_parameters, spsa_samples)
    return StepCost(forward=math.ceil(channels / slots), backward=math.ceil(channels * rows / slots))
