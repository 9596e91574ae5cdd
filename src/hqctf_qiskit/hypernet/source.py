"""The hypernet weight source: per channel, θ (as many parameters as the QPG circuit has) → 2**n probabilities
through a fixed random projection and a softmax → the QPG mapping → the layer's weights.

Why this map: it is the simplest smooth classical map from P parameters onto the probability simplex of 2**n states
with the same shape as QPG's (P numbers in, a distribution over 2**n states out, every state reachable), so the
comparison isolates the circuit. The projection is drawn once from the torch RNG (the run's seed) and kept as a
buffer, saved with the model, never trained. Its scale puts the initial logits at std sqrt(ln 2), where
``2**n·p`` has unit std — the spread of a random circuit's (Porter-Thomas) distribution, so both generators start
their mapping from equally spread probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..qpg.source import MappedProbabilitySource, initial_parameters, layer_qubits

THETA_VARIANCE = math.pi**2 / 3  # of the U(-π, π) angles initial_parameters draws
LOGIT_STD = math.sqrt(math.log(2))  # softmax of N(0, s²) logits: std(2**n·p) = sqrt(exp(s²) − 1) = 1


def projection(num_parameters: int, num_states: int) -> torch.Tensor:
    """A fixed ``[P, 2**n]`` Gaussian projection from the torch RNG, scaled so θ·R starts at std ``LOGIT_STD``."""
    std = LOGIT_STD / math.sqrt(num_parameters * THETA_VARIANCE)
    return torch.randn(num_parameters, num_states) * std


class HypernetSource(MappedProbabilitySource):
    """``W = mapping(softmax(θ·R))``: a QPG layer's parameters and mapping, a classical generator.

    ``ansatz``: the QPG ansatz template whose parameter count per channel θ gets (``num_parameters(n)``), so the
    layer holds exactly the trainable parameters of the QPG layer it stands in for. θ and the mapping are created
    as a QPG layer creates them (same RNG draws), trained with ``--qpg-lr`` and no weight decay like them.
    """

    def __init__(
        self, weight_shape: Sequence[int], ansatz: Any, mapping: str = "affine",
        mapping_options: dict[str, Any] | None = None, target_std: float = 0.05,
    ) -> None:
        super().__init__(weight_shape)
        options = dict(mapping_options or {})
        self.mapping_name = mapping
        self.num_qubits = layer_qubits(self.fan_in, mapping, options)  # 2**n outputs, as the QPG circuit has
        theta, mapping_module = initial_parameters(self.channels, self.fan_in,
                                                   ansatz.num_parameters(self.num_qubits), mapping, options)
        self.theta = nn.Parameter(theta)
        self.mapping = mapping_module
        self.register_buffer("projection", projection(theta.shape[1], 2**self.num_qubits).to(theta))
        with torch.no_grad():
            self.mapping.calibrate(self.probabilities(), target_std)

    def probabilities(self) -> torch.Tensor:
        """``[channels, 2**n]``: each channel's distribution over the basis states."""
        # Autocast would run the projection in half precision, where 2**-n probabilities lose their digits.
        with torch.autocast(device_type=self.theta.device.type, enabled=False):
            return torch.softmax(self.theta @ self.projection, dim=1)

    def describe(self) -> str:
        return f"hypernet states=2**{self.num_qubits}, mapping={self.mapping_name}"
