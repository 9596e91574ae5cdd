"""Circuit statistics: the one definition of a two-qubit gate, and hand-counted logical numbers."""

import pytest
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import UnitaryGate
from qiskit_aer import AerSimulator  # noqa: F401  (registers save_probabilities on QuantumCircuit)
from qiskit_ibm_runtime.fake_provider import FakeTorino

from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz
from hqctf_qiskit.circuits.stats import (
    LogicalStats,
    is_two_qubit_gate,
    two_qubit_counts,
    two_qubit_depth,
    two_qubit_gate_count,
)


def test_two_qubit_gate_count_ignores_directives_and_measurements():
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.cx(0, 1)
    qc.barrier(0, 1)
    qc.cz(1, 2)
    qc.swap(0, 2)
    qc.measure([0, 1, 2], [0, 1, 2])
    assert two_qubit_gate_count(qc) == 3
    assert two_qubit_counts(qc) == {"cx": 1, "cz": 1, "swap": 1}
    assert two_qubit_depth(qc) == 3


def test_two_qubit_instructions_that_are_not_gates_do_not_count():
    qc = QuantumCircuit(2)
    qc.append(UnitaryGate([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]), [0, 1])
    qc.delay(10, 0)
    qc.reset(1)
    qc.save_probabilities([0, 1])  # a two-qubit simulator instruction, not a gate
    assert two_qubit_gate_count(qc) == 1 and two_qubit_counts(qc) == {"unitary": 1}


def test_a_devices_two_qubit_basis_by_the_same_definition():
    target = FakeTorino().target
    assert sorted(name for name in target.operation_names
                  if is_two_qubit_gate(target.operation_from_name(name))) == ["cz"]


@pytest.mark.parametrize(
    "spec, depth, ops",
    [
        # ry | cx01 cx12 | ry | cx01 cx12 | ry: the second block's cx01 waits for q1's ry (layer 4), so depth 7
        (AnsatzSpec(3, reps=2), 7, {"ry": 9, "cx": 4}),
        # ry rz | cx | ry rz
        (AnsatzSpec(2, reps=1, rotation="ry_rz"), 5, {"ry": 4, "rz": 4, "cx": 1}),
        # six CX on 4 qubits: only cx03 and cx12 run side by side, so they take 5 layers: depth 1+5+1
        (AnsatzSpec(4, reps=1, entanglement="full"), 7, {"ry": 8, "cx": 6}),
        (AnsatzSpec(1, reps=2), 3, {"ry": 3}),
    ],
)
def test_logical_counts_equal_hand_count(spec, depth, ops):
    stats = LogicalStats.of(build_ansatz(spec))
    assert stats.depth == depth
    assert stats.ops == ops
    assert stats.two_qubit == ops.get("cx", 0)
