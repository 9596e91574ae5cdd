"""The parameter report of a QPG model: per layer and totals, classical vs QPG trainable parameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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


@dataclass
class QPGReport:
    mapping: str
    ansatz: dict[str, Any]
    layers: list[QPGLayerInfo] = field(default_factory=list)
    classical_trainable: int = 0
    qpg_trainable: int = 0

    @property
    def ratio(self) -> float:
        return self.qpg_trainable / self.classical_trainable if self.classical_trainable else float("nan")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["totals"] = {
            "layers": len(self.layers),
            "generated_weights": sum(layer.generated_weights for layer in self.layers),
            "circuit_params": sum(layer.circuit_params for layer in self.layers),
            "mapping_params": sum(layer.mapping_params for layer in self.layers),
        }
        return data

    def format_table(self) -> str:
        head = f"{'layer':<40} {'ch':>5} {'fan_in':>7} {'qubits':>6} {'circ.params':>11} {'map.params':>10} {'weights':>9}"
        lines = [head, "-" * len(head)]
        for layer in self.layers:
            lines.append(
                f"{layer.name:<40} {layer.channels:>5} {layer.fan_in:>7} {layer.qubits:>6} "
                f"{layer.circuit_params:>11} {layer.mapping_params:>10} {layer.generated_weights:>9}"
            )
        lines.append(
            f"trainable parameters: classical {self.classical_trainable:,} -> QPG {self.qpg_trainable:,} "
            f"(ratio {self.ratio:.3f}, mapping {self.mapping})"
        )
        return "\n".join(lines)
