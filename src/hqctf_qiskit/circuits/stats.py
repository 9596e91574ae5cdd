"""Circuit statistics: the one definition of "two-qubit gate", and the numbers the circuit report shows.

A two-qubit gate is a unitary ``Gate`` acting on two qubits (cx, ecr, cz, swap, rzz, ...). Barriers, measurements,
delays, resets and simulator instructions (``save_probabilities``) are not gates, so they never count, whatever
their width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qiskit.circuit import Gate, QuantumCircuit


def is_two_qubit_gate(operation: Any) -> bool:
    """Whether ``operation`` (an instruction's operation, or a target's) is a two-qubit gate."""
    return isinstance(operation, Gate) and operation.num_qubits == 2


def two_qubit_counts(circuit: QuantumCircuit) -> dict[str, int]:
    """Two-qubit gates by name, in order of first appearance."""
    counts: dict[str, int] = {}
    for instruction in circuit.data:
        if is_two_qubit_gate(instruction.operation):
            counts[instruction.operation.name] = counts.get(instruction.operation.name, 0) + 1
    return counts


def two_qubit_gate_count(circuit: QuantumCircuit) -> int:
    """Two-qubit gates (ecr, cz, cx, swap, ...) in a circuit; barriers, measurements and directives do not count."""
    return sum(1 for instruction in circuit.data if is_two_qubit_gate(instruction.operation))


def two_qubit_depth(circuit: QuantumCircuit) -> int:
    """Depth counting two-qubit gates only."""
    return circuit.depth(lambda instruction: is_two_qubit_gate(instruction.operation))


@dataclass(frozen=True)
class LogicalStats:
    """The ansatz as built (``build_ansatz``, no measurements): what every engine computes."""

    depth: int
    ops: dict[str, int]
    two_qubit: int

    @classmethod
    def of(cls, circuit: QuantumCircuit) -> "LogicalStats":
        return cls(depth=circuit.depth(), ops=dict(circuit.count_ops()), two_qubit=two_qubit_gate_count(circuit))


@dataclass(frozen=True)
class TranspiledStats:
    """The ISA circuit for the target (ansatz + measurements, as a sampler runs it) and what routing added."""

    depth: int
    two_qubit: int
    two_qubit_depth: int
    two_qubit_gates: dict[str, int]
    swaps: int
    ops: dict[str, int]
    layout: list[int] | None

    @classmethod
    def of(cls, isa: QuantumCircuit, swaps: int, layout: list[int] | None) -> "TranspiledStats":
        return cls(depth=isa.depth(), two_qubit=two_qubit_gate_count(isa), two_qubit_depth=two_qubit_depth(isa),
                   two_qubit_gates=two_qubit_counts(isa), swaps=swaps, ops=dict(isa.count_ops()), layout=layout)
