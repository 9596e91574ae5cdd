"""The fused CPU kernel against the engine's torch path and Qiskit's Statevector."""

import numpy as np
import pytest
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import Statevector

from hqctf_qiskit.circuits import ENTANGLEMENTS, AnsatzSpec, build_ansatz
from hqctf_qiskit.native import build as native_build
from hqctf_qiskit.engines import StatevectorEngine
from hqctf_qiskit.native import statevector as native

has_compiler = native_build.compiler() is not None
requires_kernel = pytest.mark.skipif(not has_compiler, reason="no C++ compiler on this machine")


def both_paths(circuit: QuantumCircuit, theta: torch.Tensor, seed: int = 0):
    """(probabilities, gradient of a random linear loss) from the kernel and from the torch path."""
    weights = torch.randn(2**circuit.num_qubits, generator=torch.Generator().manual_seed(seed), dtype=theta.dtype)
    results = []
    for use_native in (True, False):
        engine = StatevectorEngine(circuit, dtype=theta.dtype, use_native=use_native)
        assert engine.uses_native_kernel() is use_native
        angles = theta.clone().requires_grad_(True)
        probs = engine.probabilities(angles)
        (grad,) = torch.autograd.grad((probs * weights).sum(), angles)
        results.append((probs.detach(), grad))
    return results


@requires_kernel
def test_kernel_builds_where_a_compiler_exists():
    assert native.load_kernel() is not None


@requires_kernel
@pytest.mark.parametrize("num_qubits", [1, 2, 3, 4, 7, 11])
@pytest.mark.parametrize("entanglement", ENTANGLEMENTS)
@pytest.mark.parametrize("reps", [0, 1, 3])
def test_kernel_equals_torch_path_and_qiskit(num_qubits, entanglement, reps):
    circuit = build_ansatz(AnsatzSpec(num_qubits, reps=reps, entanglement=entanglement))
    theta = torch.rand(5, circuit.num_parameters, generator=torch.Generator().manual_seed(num_qubits),
                       dtype=torch.float64) * 2 * np.pi
    (p_native, g_native), (p_torch, g_torch) = both_paths(circuit, theta)
    torch.testing.assert_close(p_native, p_torch, atol=1e-13, rtol=0)
    torch.testing.assert_close(g_native, g_torch, atol=1e-11, rtol=1e-9)
    reference = Statevector(circuit.assign_parameters(theta[0].tolist())).probabilities()
    np.testing.assert_allclose(p_native[0].numpy(), reference, atol=1e-12)


@requires_kernel
def test_kernel_handles_fixed_gates_signs_and_partial_layers():
    """Fixed H/X/Z, a bound angle, CZ signs, SWAP, qubits without gates, a layer that is not first."""
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    circuit = QuantumCircuit(5)
    circuit.h(0)
    circuit.ry(a, 2)
    circuit.cz(0, 2)
    circuit.x(1)
    circuit.ry(b, 1)
    circuit.z(1)
    circuit.swap(1, 4)
    circuit.ry(0.3, 3)
    circuit.cx(3, 0)
    circuit.ry(c, 4)
    circuit.h(4)
    theta = torch.tensor([[0.4, -1.2, 2.5], [3.0, 0.1, -0.7]], dtype=torch.float64)
    (p_native, g_native), (p_torch, g_torch) = both_paths(circuit, theta)
    torch.testing.assert_close(p_native, p_torch, atol=1e-13, rtol=0)
    torch.testing.assert_close(g_native, g_torch, atol=1e-12, rtol=1e-10)
    for row, probs in zip(theta, p_native):
        reference = Statevector(circuit.assign_parameters(row.tolist())).probabilities()
        np.testing.assert_allclose(probs.numpy(), reference, atol=1e-12)


@requires_kernel
def test_kernel_gradcheck_float64():
    circuit = build_ansatz(AnsatzSpec(4, reps=2))
    engine = StatevectorEngine(circuit, dtype=torch.float64)
    theta = torch.rand(3, circuit.num_parameters, generator=torch.Generator().manual_seed(3),
                       dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(engine.probabilities, (theta,))


@requires_kernel
def test_kernel_float32_and_thread_count_do_not_change_results():
    circuit = build_ansatz(AnsatzSpec(9, reps=2))
    engine = StatevectorEngine(circuit, dtype=torch.float32)
    theta = torch.rand(64, circuit.num_parameters, generator=torch.Generator().manual_seed(1)) * 6
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = engine.probabilities(theta)
        torch.set_num_threads(max(2, threads))
        multi = engine.probabilities(theta)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(single, multi)  # channels are independent: no reduction order depends on threads
    reference = StatevectorEngine(circuit, dtype=torch.float64, use_native=False).probabilities(theta.double())
    torch.testing.assert_close(single.double(), reference, atol=1e-6, rtol=0)


@requires_kernel
def test_complex_circuits_keep_the_torch_path():
    engine = StatevectorEngine(build_ansatz(AnsatzSpec(3, rotation="ry_rz")))
    assert not engine.uses_native_kernel()


def test_hqctf_native_0_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv("HQCTF_NATIVE", "0")
    assert native.load_kernel() is None
    assert not StatevectorEngine(build_ansatz(AnsatzSpec(3))).uses_native_kernel()


@requires_kernel
def test_hqctf_native_0_after_a_first_kernel_use_runs_the_torch_path(monkeypatch):
    """The switch is read where it acts: no cache from the first use hides it."""
    circuit = build_ansatz(AnsatzSpec(3, reps=1))
    theta = torch.rand(4, circuit.num_parameters, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    engine = StatevectorEngine(circuit, dtype=torch.float64)
    with_kernel = engine.probabilities(theta)
    assert engine.uses_native_kernel()

    monkeypatch.setenv("HQCTF_NATIVE", "0")

    def kernel_called(*args):
        raise AssertionError("the kernel ran although HQCTF_NATIVE=0")

    monkeypatch.setattr(native.NativeProbabilities, "apply", kernel_called)
    assert not engine.uses_native_kernel()
    torch.testing.assert_close(engine.probabilities(theta), with_kernel, atol=1e-13, rtol=0)
    monkeypatch.delenv("HQCTF_NATIVE")
    assert engine.uses_native_kernel()  # and back on without a restart


def test_missing_compiler_falls_back_to_torch(monkeypatch, tmp_path):
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    assert native.load_kernel() is None  # logged, not raised
    circuit = build_ansatz(AnsatzSpec(3, reps=1))
    theta = torch.zeros(1, circuit.num_parameters)
    probs = StatevectorEngine(circuit).probabilities(theta)
    assert probs[0, 0].item() == pytest.approx(1.0)


@requires_kernel
def test_a_broken_build_falls_back_and_leaves_no_partial_library(monkeypatch, tmp_path):
    fake = tmp_path / "fake-c++"
    fake.write_text("#!/bin/sh\necho 'error: simulated failure' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", str(fake))
    assert native.load_kernel() is None
    assert not list((tmp_path / "cache" / "kernels").glob("*.so"))
