"""The one interface QPG layers see: circuit parameters in, basis-state probabilities out; and the engines' errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

from ..errors import BackendError

if TYPE_CHECKING:
    from qiskit.circuit import QuantumCircuit


@runtime_checkable
class ProbabilityEngine(Protocol):
    """Evaluates one parametrized circuit for B independent parameter sets.

    ``probabilities(theta)`` takes ``theta`` of shape ``[B, P]`` (P = circuit parameters, in the circuit's parameter
    order) and returns ``[B, 2**n]`` probabilities in Qiskit's bit order (qubit 0 is the least significant bit of the
    basis index). Engines that support it are differentiable with respect to ``theta``. An engine holding resources
    (a sampler engine) also has ``close()``; :func:`close_engine` calls it where present.
    """

    circuit: QuantumCircuit
    num_qubits: int
    num_parameters: int

    def probabilities(self, theta: torch.Tensor) -> torch.Tensor: ...


def close_engine(engine: Any) -> None:
    """Release what ``engine`` holds (its ``close()``); engines without resources have nothing to release."""
    close = getattr(engine, "close", None)
    if close is not None:
        close()


class UnsupportedCircuitError(BackendError):
    """A circuit uses a gate or parameter expression that an engine cannot run."""


class ShotsRequiredError(BackendError):
    """A sampling backend was asked for exact probabilities."""
