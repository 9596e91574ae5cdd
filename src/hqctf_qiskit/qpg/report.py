"""The parameter report of a QPG model: per layer and totals, classical vs QPG trainable parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..weightgen.replace import ReplacementReport


@dataclass
class QPGLayerInfo:
    name: str
    kind: str
    channels: int
    fan_in: int
    qubits: int
    circuit_params: int
    mapping_params: int
    generated_weights: int

    @classmethod
    def of(cls, name: str, replaced: Any, source: Any) -> "QPGLayerInfo":
        """The row of one replaced layer (``replaced``: the original module) and the source now generating it."""
        return cls(name=name, kind=type(replaced).__name__, channels=source.channels, fan_in=source.fan_in,
                   qubits=source.num_qubits, circuit_params=source.circuit_parameter_count,
                   mapping_params=source.mapping_parameter_count, generated_weights=replaced.weight.numel())


@dataclass
class QPGReport(ReplacementReport):
    label = "QPG"
    columns = (("ch", "channels", 5), ("fan_in", "fan_in", 7), ("qubits", "qubits", 6),
               ("circ.params", "circuit_params", 11), ("map.params", "mapping_params", 10),
               ("weights", "generated_weights", 9))
    total_fields = ("generated_weights", "circuit_params", "mapping_params")

    mapping: str
    ansatz: dict[str, Any]
    layers: list[QPGLayerInfo] = field(default_factory=list)
    classical_trainable: int = 0
    qpg_trainable: int = 0

    @property
    def generated_trainable(self) -> int:
        return self.qpg_trainable

    def settings(self) -> str:
        return f"mapping {self.mapping}"
