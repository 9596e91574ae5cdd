"""The QPG weight source: one circuit per output channel (parameters θ), all channels in one engine call, and a
mapping from each channel's basis-state probabilities to its filter.

This module imports no qiskit: the source sees its engine through the ``ProbabilityEngine`` protocol, handed over
by an engine provider (``qpg.apply.engine_provider`` builds circuits and engines).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..engines.base import ProbabilityEngine
from ..weightgen.export import generated_layers
from ..weightgen.layers import GeneratedWeightLayer
from ..weightgen.source import WeightSource
from .mappings import WeightMapping, mapping_class

# engine_for(num_qubits) -> the engine running the layer's ansatz on that many qubits
EngineProvider = Callable[[int], ProbabilityEngine]


def layer_qubits(fan_in: int, mapping: str = "affine", mapping_options: dict[str, Any] | None = None) -> int:
    """Qubits of a layer's channel circuits: enough basis states for the mapping to cover ``fan_in`` weights."""
    return mapping_class(mapping).num_qubits_for(fan_in, **(mapping_options or {}))


def initial_parameters(
    channels: int, fan_in: int, parameters_per_channel: int, mapping: str = "affine",
    mapping_options: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, WeightMapping]:
    """A QPG layer's initial θ ``[channels, P]`` and its mapping (not yet calibrated), drawn from the torch RNG.

    Needs no circuit and no engine, so a parameter budget can be counted from exactly what a QPG layer holds, and
    the RNG advances as building the layer advances it. Uniform angles: every channel starts from a different,
    well-spread distribution (all-zero angles would give every channel the same point mass on |0…0> and identical
    filters).
    """
    options = dict(mapping_options or {})
    num_qubits = layer_qubits(fan_in, mapping, options)
    theta = torch.empty(channels, parameters_per_channel).uniform_(-math.pi, math.pi)
    return theta, mapping_class(mapping)(channels, fan_in, num_qubits, **options)


class MappedProbabilitySource(WeightSource):
    """A layer's weight as ``mapping(probabilities())`` of per-channel parameters ``theta [channels, P]``.

    What QPG and its classical control (``hypernet``) share, so both generate, count and train alike; a subclass
    sets ``theta``, ``mapping``, ``mapping_name`` and ``num_qubits`` and says where the probabilities come from.
    """

    optimizer_group = "qpg"
    theta: nn.Parameter
    mapping: WeightMapping
    mapping_name: str
    num_qubits: int

    def probabilities(self) -> torch.Tensor:
        """``[channels, 2**n]``: each channel's distribution over the basis states."""
        raise NotImplementedError

    def forward(self) -> torch.Tensor:
        with torch.autocast(device_type=self.theta.device.type, enabled=False):
            return self.mapping(self.probabilities()).reshape(self.weight_shape)

    @property
    def circuit_parameter_count(self) -> int:
        """θ's size (for a classical control: what the QPG circuits would hold)."""
        return self.theta.numel()

    @property
    def mapping_parameter_count(self) -> int:
        return sum(p.numel() for p in self.mapping.parameters() if p.requires_grad)


class QPGSource(MappedProbabilitySource):
    """Generates a layer's weight from circuit parameters ``theta [channels, P]``: engine → probabilities → mapping."""

    legacy_state_names = {"generator.": "source."}  # QPG layers held this as ``generator`` before weightgen

    def __init__(
        self,
        weight_shape: Sequence[int],
        engine_for: EngineProvider,
        mapping: str = "affine",
        mapping_options: dict[str, Any] | None = None,
        target_std: float = 0.05,
        calibration_engine_for: EngineProvider | None = None,
    ) -> None:
        super().__init__(weight_shape)
        options = dict(mapping_options or {})
        self.mapping_name = mapping
        self.num_qubits = layer_qubits(self.fan_in, mapping, options)
        self.engine = engine_for(self.num_qubits)
        theta, mapping_module = initial_parameters(self.channels, self.fan_in, self.engine.num_parameters, mapping,
                                                   options)
        self.theta = nn.Parameter(theta)
        self.mapping = mapping_module
        # Calibrate on exact probabilities when an exact engine is given: no shots (or hardware jobs) are spent
        # on initialization, and the weight scale does not depend on shot noise.
        calibration = calibration_engine_for(self.num_qubits) if calibration_engine_for else self.engine
        with torch.no_grad():
            self.mapping.calibrate(self._run(calibration), target_std)

    def _run(self, engine: ProbabilityEngine) -> torch.Tensor:
        # Autocast would run the engine's matmuls in half precision, where 2**-n probabilities lose their digits.
        with torch.autocast(device_type=self.theta.device.type, enabled=False):
            return engine.probabilities(self.theta).to(self.theta)

    def probabilities(self) -> torch.Tensor:
        """``[channels, 2**n]``: every channel's basis-state probabilities from this source's engine."""
        return self._run(self.engine)

    def regenerate_from(self, probs: torch.Tensor) -> torch.Tensor:
        """The weight from externally supplied probabilities (e.g. estimated on a sampler backend)."""
        return self.mapping(probs.to(self.theta)).reshape(self.weight_shape)

    def describe(self) -> str:
        return f"qubits={self.num_qubits}, mapping={self.mapping_name}"


def qpg_layers(model: nn.Module) -> list[tuple[str, GeneratedWeightLayer]]:
    """The generated-weight layers of ``model`` whose weight comes from a QPG source, with their names."""
    return [(name, layer) for name, layer in generated_layers(model) if isinstance(layer.source, QPGSource)]
