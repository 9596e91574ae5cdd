"""Per-channel quantum parameter generation: one circuit per output channel, all channels in one engine call."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from .mappings import mapping_class

# engine_for(num_qubits) -> an object with .num_parameters and .probabilities(theta [B, P]) -> [B, 2**n]
EngineProvider = Callable[[int], Any]


class ChannelCircuitGenerator(nn.Module):
    """Generates a ``[channels, fan_in]`` weight matrix from circuit parameters ``theta [channels, P]``."""

    def __init__(
        self,
        channels: int,
        fan_in: int,
        engine_for: EngineProvider,
        mapping: str = "affine",
        mapping_options: dict[str, Any] | None = None,
        target_std: float = 0.05,
        calibration_engine_for: EngineProvider | None = None,
    ) -> None:
        super().__init__()
        options = dict(mapping_options or {})
        cls = mapping_class(mapping)
        self.mapping_name = mapping
        self.num_qubits = cls.num_qubits_for(fan_in, **options)
        self.engine = engine_for(self.num_qubits)
        self.channels, self.fan_in = channels, fan_in
        # Uniform angles: every channel starts from a different, well-spread distribution (all-zero angles would
        # give every channel the same point mass on |0…0> and identical filters).
        self.theta = nn.Parameter(torch.empty(channels, self.engine.num_parameters).uniform_(-math.pi, math.pi))
        self.mapping = cls(channels, fan_in, self.num_qubits, **options)
        # Calibrate on exact probabilities when an exact engine is given: no shots (or hardware jobs) are spent
        # on initialization, and the weight scale does not depend on shot noise.
        calibration = calibration_engine_for(self.num_qubits) if calibration_engine_for else self.engine
        with torch.no_grad():
            self.mapping.calibrate(self._run(calibration), target_std)

    def _run(self, engine: Any) -> torch.Tensor:
        # Autocast would run the engine's matmuls in half precision, where 2**-n probabilities lose their digits.
        with torch.autocast(device_type=self.theta.device.type, enabled=False):
            return engine.probabilities(self.theta).to(self.theta)

    def probabilities(self) -> torch.Tensor:
        return self._run(self.engine)

    def forward(self) -> torch.Tensor:
        with torch.autocast(device_type=self.theta.device.type, enabled=False):
            return self.mapping(self.probabilities())

    def regenerate_from(self, probs: torch.Tensor) -> torch.Tensor:
        """Weights from externally supplied probabilities (e.g. estimated on a sampler backend)."""
        return self.mapping(probs.to(self.theta))

    @property
    def circuit_parameter_count(self) -> int:
        return self.theta.numel()

    @property
    def mapping_parameter_count(self) -> int:
        return sum(p.numel() for p in self.mapping.parameters() if p.requires_grad)
