"""Shot-noise-aware training on the torch engine: sampled probabilities forward, exact gradient backward.

The forward value is what a sampler with ``shots`` shots would return (multinomial counts / shots per channel),
the backward pass is the exact statevector gradient (straight-through: ``p + (p_sampled - p).detach()``). This
trains under the noise of a shot budget at torch speed, on CPU or CUDA, without a sampler backend.
"""

from __future__ import annotations

import torch
from qiskit.circuit import QuantumCircuit

from .cost import check_shots
from .statevector import StatevectorEngine


class ShotsStatevectorEngine:
    """``StatevectorEngine`` whose forward value is a ``shots``-shot estimate; reproducible for a given ``seed``."""

    def __init__(
        self, circuit: QuantumCircuit, shots: int, dtype: torch.dtype = torch.float32, seed: int | None = None,
        group_count: int | None = None,
    ) -> None:
        if shots is None:
            raise ValueError("ShotsStatevectorEngine needs shots; the exact engine is StatevectorEngine")
        check_shots(shots)
        self.exact = StatevectorEngine(circuit, dtype=dtype, group_count=group_count)
        self.circuit = circuit
        self.num_qubits = self.exact.num_qubits
        self.num_parameters = self.exact.num_parameters
        self.shots = shots
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        """One generator per device, seeded once: successive forwards differ, a fresh engine replays them."""
        if device not in self._generators:
            generator = torch.Generator(device=device)
            if self.seed is None:
                generator.seed()
            else:
                generator.manual_seed(self.seed)
            self._generators[device] = generator
        return self._generators[device]

    def sample(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Multinomial frequencies (counts / shots) ``[B, 2**n]`` for probability rows ``[B, 2**n]`` (no gradient)."""
        weights = probabilities.detach().clamp_min(0).to(torch.float64)
        outcomes = torch.multinomial(weights, self.shots, replacement=True, generator=self._generator(weights.device))
        counts = torch.zeros_like(weights).scatter_add_(1, outcomes, torch.ones_like(outcomes, dtype=weights.dtype))
        return (counts / self.shots).to(probabilities.dtype)

    def probabilities(self, theta: torch.Tensor) -> torch.Tensor:
        exact = self.exact.probabilities(theta)
        return exact + (self.sample(exact) - exact).detach()

    __call__ = probabilities

    def __repr__(self) -> str:
        return f"ShotsStatevectorEngine(n={self.num_qubits}, P={self.num_parameters}, shots={self.shots})"
