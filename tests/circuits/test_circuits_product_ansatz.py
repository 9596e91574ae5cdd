"""The ``entanglement: none`` ansatz (the qpg-affine-product control): a product state, checked against Qiskit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz
from hqctf_qiskit.circuits.stats import two_qubit_gate_count
from hqctf_qiskit.engines.statevector import StatevectorEngine


@pytest.mark.parametrize("rotation", ["ry", "ry_rz"])
def test_product_ansatz_probabilities_are_the_product_of_single_qubit_marginals(rotation):
    n = 4
    spec = AnsatzSpec(num_qubits=n, reps=2, rotation=rotation, entanglement="none")
    circuit = build_ansatz(spec)
    assert two_qubit_gate_count(circuit) == 0
    assert spec.num_parameters() == AnsatzSpec(num_qubits=n, reps=2, rotation=rotation).num_parameters()
    theta = torch.empty(3, spec.num_parameters(), dtype=torch.float64).uniform_(-np.pi, np.pi,
                                                                                 generator=torch.Generator().manual_seed(7))
    engine_probs = StatevectorEngine(circuit, dtype=torch.float64).probabilities(theta).numpy()
    for row, angles in zip(engine_probs, theta.numpy()):
        state = Statevector(circuit.assign_parameters(angles))
        np.testing.assert_allclose(row, state.probabilities(), atol=1e-12)
        marginals = [state.probabilities([q]) for q in range(n)]  # [p(q=0), p(q=1)] per qubit
        product = np.array([np.prod([marginals[q][(index >> q) & 1] for q in range(n)]) for index in range(2**n)])
        np.testing.assert_allclose(row, product, atol=1e-12)


def test_the_entangled_ansatz_is_not_a_product_state():
    """The check above can fail: with CX blocks the distribution is not the product of its marginals."""
    n = 3
    circuit = build_ansatz(AnsatzSpec(num_qubits=n, reps=2))
    state = Statevector(circuit.assign_parameters(np.linspace(0.3, 2.9, circuit.num_parameters)))
    marginals = [state.probabilities([q]) for q in range(n)]
    product = np.array([np.prod([marginals[q][(i >> q) & 1] for q in range(n)]) for i in range(2**n)])
    assert np.abs(state.probabilities() - product).max() > 1e-3
