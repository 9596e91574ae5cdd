"""Ansatz specification and builder: the Qiskit circuit is the single source of truth for every engine.

``AnsatzSpec`` is plain data: importing this module loads no qiskit, so a config can validate an ansatz and a
low-rank budget can count its parameters without it; ``build_ansatz`` imports qiskit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from qiskit.circuit import QuantumCircuit

ROTATION_BLOCKS: dict[str, tuple[str, ...]] = {"ry": ("ry",), "ry_rz": ("ry", "rz")}
# "none": rotation layers only, a product state — the control that asks whether entanglement matters at all
ENTANGLEMENTS = ("linear", "reverse_linear", "circular", "full", "none")


@dataclass(frozen=True)
class AnsatzSpec:
    """A small serializable description of a hardware-efficient ansatz.

    ``num_qubits`` may be left ``None`` in a template: QPG fills it in per layer from the layer's fan-in.
    """

    num_qubits: int | None = None
    reps: int = 2
    rotation: str = "ry"
    entanglement: str = "linear"
    final_rotation: bool = True

    def __post_init__(self) -> None:
        if self.num_qubits is not None and self.num_qubits < 1:
            raise ValueError(f"num_qubits must be >= 1, got {self.num_qubits}")
        if self.reps < 0:
            raise ConfigError(f"reps must be >= 0, got {self.reps}")
        if self.rotation not in ROTATION_BLOCKS:
            raise ConfigError(f"unknown rotation block {self.rotation!r}; choose from {sorted(ROTATION_BLOCKS)}")
        if self.entanglement not in ENTANGLEMENTS:
            raise ConfigError(f"unknown entanglement {self.entanglement!r}; choose from {list(ENTANGLEMENTS)}")
        if self.reps == 0 and not self.final_rotation:
            raise ConfigError("an ansatz with reps=0 needs final_rotation=True (otherwise it has no parameters)")

    def with_qubits(self, num_qubits: int) -> "AnsatzSpec":
        return replace(self, num_qubits=num_qubits)

    @property
    def rotation_layers(self) -> int:
        return self.reps + (1 if self.final_rotation else 0)

    def num_parameters(self, num_qubits: int | None = None) -> int:
        n = num_qubits if num_qubits is not None else self._require_qubits()
        return self.rotation_layers * n * len(ROTATION_BLOCKS[self.rotation])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AnsatzSpec":
        return cls(**data)

    def _require_qubits(self) -> int:
        if self.num_qubits is None:
            raise ValueError("this AnsatzSpec is a template: set num_qubits (spec.with_qubits(n)) first")
        return self.num_qubits


def entangling_pairs(num_qubits: int, entanglement: str) -> list[tuple[int, int]]:
    """(control, target) pairs of one entangling block, in application order (Qiskit's conventions)."""
    n = num_qubits
    if n < 2 or entanglement == "none":
        return []
    linear = [(i, i + 1) for i in range(n - 1)]
    if entanglement == "linear":
        return linear
    if entanglement == "reverse_linear":
        return linear[::-1]
    if entanglement == "circular":
        return ([(n - 1, 0)] if n > 2 else []) + linear
    if entanglement == "full":
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    raise ConfigError(f"unknown entanglement {entanglement!r}; choose from {list(ENTANGLEMENTS)}")


def build_ansatz(spec: AnsatzSpec, name: str = "θ") -> QuantumCircuit:
    """Rotation layers interleaved with CX entangling blocks; parameters in a ParameterVector in application order."""
    from qiskit.circuit import ParameterVector, QuantumCircuit

    n = spec._require_qubits()
    gates = ROTATION_BLOCKS[spec.rotation]
    theta = ParameterVector(name, spec.num_parameters())
    qc = QuantumCircuit(n, name=f"qpg_{spec.rotation}_{spec.entanglement}_n{n}_r{spec.reps}")
    k = 0

    def rotation_layer() -> None:
        nonlocal k
        for q in range(n):
            for gate in gates:
                getattr(qc, gate)(theta[k], q)
                k += 1

    for _ in range(spec.reps):
        rotation_layer()
        for control, target in entangling_pairs(n, spec.entanglement):
            qc.cx(control, target)
    if spec.final_rotation:
        rotation_layer()
    return qc
