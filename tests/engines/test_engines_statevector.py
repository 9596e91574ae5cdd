import numpy as np
import pytest
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import Statevector

from hqctf_qiskit.circuits import ENTANGLEMENTS, ROTATION_BLOCKS, AnsatzSpec, build_ansatz
from hqctf_qiskit.backends import make_engine
from hqctf_qiskit.engines import StatevectorEngine, UnsupportedCircuitError

from helpers import requires_cuda


def qiskit_probabilities(circuit: QuantumCircuit, theta: torch.Tensor) -> np.ndarray:
    return np.stack([Statevector(circuit.assign_parameters(row.tolist())).probabilities() for row in theta])


@pytest.mark.parametrize("num_qubits", range(1, 15))
@pytest.mark.parametrize("entanglement", ENTANGLEMENTS)
@pytest.mark.parametrize("rotation", sorted(ROTATION_BLOCKS))
def test_matches_qiskit_statevector(num_qubits, entanglement, rotation):
    if num_qubits > 10 and (entanglement, rotation) not in {("linear", "ry"), ("full", "ry_rz")}:
        pytest.skip("large n is covered by the two extreme configurations")
    circuit = build_ansatz(AnsatzSpec(num_qubits, reps=2, rotation=rotation, entanglement=entanglement))
    generator = torch.Generator().manual_seed(num_qubits)
    theta = torch.rand(2, circuit.num_parameters, generator=generator, dtype=torch.float64) * 2 * np.pi
    reference = qiskit_probabilities(circuit, theta)
    exact = StatevectorEngine(circuit, dtype=torch.float64).probabilities(theta)
    single = StatevectorEngine(circuit, dtype=torch.float32).probabilities(theta.float())
    assert exact.dtype == torch.float64 and single.dtype == torch.float32
    np.testing.assert_allclose(exact.numpy(), reference, atol=1e-12, rtol=0)
    np.testing.assert_allclose(single.numpy(), reference, atol=1e-6, rtol=0)


def test_real_fast_path_and_complex_path_are_chosen_by_the_gates():
    assert StatevectorEngine(build_ansatz(AnsatzSpec(3, rotation="ry"))).is_real
    assert not StatevectorEngine(build_ansatz(AnsatzSpec(3, rotation="ry_rz"))).is_real


def test_every_supported_gate_matches_qiskit():
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    qc = QuantumCircuit(4)
    qc.h(0); qc.x(1); qc.sx(2); qc.y(3)
    qc.ry(a, 0); qc.rx(b, 1); qc.rz(c, 2); qc.ry(0.3, 3); qc.rx(-0.7, 2)
    qc.cx(0, 1); qc.cz(1, 2); qc.swap(2, 3); qc.cx(3, 0)
    qc.s(0); qc.t(1); qc.sdg(2); qc.tdg(3); qc.z(0); qc.p(a, 1); qc.h(2)
    qc.barrier()
    qc.cz(0, 3); qc.swap(0, 2); qc.rz(a, 3); qc.ry(b, 0)
    theta = torch.tensor([[0.4, 1.1, -2.0], [2.5, -0.3, 0.9]], dtype=torch.float64)
    probs = StatevectorEngine(qc, dtype=torch.float64).probabilities(theta)
    np.testing.assert_allclose(probs.numpy(), qiskit_probabilities(qc, theta), atol=1e-12)


def test_measurements_are_ignored_and_bit_order_is_qiskits():
    qc = QuantumCircuit(3, 3)
    qc.x(0)  # |001> in Qiskit's little-endian order = basis index 1
    qc.measure(range(3), range(3))
    probs = StatevectorEngine(qc, dtype=torch.float64).probabilities(torch.zeros(1, 0, dtype=torch.float64))
    assert probs.argmax().item() == 1 and probs[0, 1].item() == pytest.approx(1.0)


def test_unsupported_gate_is_named():
    qc = QuantumCircuit(3)
    qc.ccx(0, 1, 2)
    with pytest.raises(UnsupportedCircuitError, match="'ccx'"):
        StatevectorEngine(qc)


def test_parameter_expression_is_rejected_with_its_gate():
    t = Parameter("t")
    qc = QuantumCircuit(1)
    qc.ry(2 * t, 0)
    with pytest.raises(UnsupportedCircuitError, match="'ry'.*single parameter"):
        StatevectorEngine(qc)


def test_wrong_theta_shape_is_a_clear_error():
    engine = StatevectorEngine(build_ansatz(AnsatzSpec(3, reps=1)))
    with pytest.raises(ValueError, match=r"\[B, 6\]"):
        engine.probabilities(torch.zeros(2, 5))


@pytest.mark.parametrize("rotation", sorted(ROTATION_BLOCKS))
def test_gradcheck(rotation):
    circuit = build_ansatz(AnsatzSpec(4, reps=2, rotation=rotation, entanglement="circular"))
    engine = StatevectorEngine(circuit, dtype=torch.float64)
    theta = torch.rand(3, circuit.num_parameters, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(engine.probabilities, (theta.requires_grad_(),), eps=1e-6, atol=1e-8)


def test_autograd_equals_parameter_shift():
    circuit = build_ansatz(AnsatzSpec(3, reps=2, rotation="ry_rz", entanglement="full"))
    engine = StatevectorEngine(circuit, dtype=torch.float64)
    theta = torch.rand(1, circuit.num_parameters, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    jacobian = torch.autograd.functional.jacobian(lambda t: engine.probabilities(t)[0], theta)[:, 0, :]
    for k in range(circuit.num_parameters):
        shift = torch.zeros_like(theta)
        shift[0, k] = np.pi / 2
        reference = (qiskit_probabilities(circuit, theta + shift) - qiskit_probabilities(circuit, theta - shift)) / 2
        np.testing.assert_allclose(jacobian[:, k].numpy(), reference[0], atol=1e-12)


def test_batch_entries_are_independent():
    circuit = build_ansatz(AnsatzSpec(5, reps=2))
    engine = StatevectorEngine(circuit, dtype=torch.float64)
    theta = torch.rand(4, circuit.num_parameters, dtype=torch.float64)
    together = engine.probabilities(theta)
    for i in range(4):
        torch.testing.assert_close(together[i], engine.probabilities(theta[i : i + 1])[0], atol=1e-14, rtol=0)


def test_registry_by_name():
    circuit = build_ansatz(AnsatzSpec(2, reps=1))
    assert isinstance(make_engine("torch", circuit), StatevectorEngine)
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        make_engine("nope", circuit)


@requires_cuda
@pytest.mark.gpu
def test_cuda_matches_cpu():
    circuit = build_ansatz(AnsatzSpec(10, reps=3, rotation="ry_rz"))
    engine = StatevectorEngine(circuit, dtype=torch.float64)
    theta = torch.rand(8, circuit.num_parameters, dtype=torch.float64)
    cpu = engine.probabilities(theta)
    cuda = engine.probabilities(theta.cuda())
    assert cuda.is_cuda
    torch.testing.assert_close(cuda.cpu(), cpu, atol=1e-12, rtol=0)
