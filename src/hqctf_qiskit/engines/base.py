"""The one interface QPG layers see: circuit parameters in, basis-state probabilities out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class ProbabilityEngine(Protocol):
    """Evaluates one parametrized circuit for B independent parameter sets.

    ``probabilities(theta)`` takes ``theta`` of shape ``[B, P]`` (P = circuit parameters, in the circuit's parameter
    order) and returns ``[B, 2**n]`` probabilities in Qiskit's bit order (qubit 0 is the least significant bit of the
    basis index). Engines that support it are differentiable with respect to ``theta``.
    """

    num_qubits: int
    num_parameters: int

    def probabilities(self, theta: torch.Tensor) -> torch.Tensor: ...


class UnsupportedCircuitError(ValueError):
    """A circuit uses a gate or parameter expression that an engine cannot run."""
