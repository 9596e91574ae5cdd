import math

import numpy as np
import pytest
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.primitives import StatevectorSampler
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2 as AerSampler
from qiskit_ibm_runtime.executor_sampler import Sampler as RuntimeSampler
from qiskit_ibm_runtime.fake_provider import FakeBrisbane

from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz, swap_count
from hqctf_qiskit.engines import SamplerEngine, ShotsRequiredError, StatevectorEngine, UnsupportedCircuitError
from hqctf_qiskit.backends import make_engine
from hqctf_qiskit.engines.gradients import spsa_directions


class RecordingSampler(AerSampler):
    """Aer's sampler, recording the PUB shapes of every run call."""

    def __init__(self, **options):
        super().__init__(**options)
        self.calls: list[list[tuple[int, ...]]] = []

    def run(self, pubs, *, shots=None):
        pubs = [SamplerPub.coerce(pub, shots or self.default_shots) for pub in pubs]
        self.calls.append([pub.shape for pub in pubs])
        return super().run(pubs, shots=shots)


class RecordingSimulator(AerSimulator):
    """Aer, recording how many parameter sets each run call carries."""

    def __init__(self, **options):
        super().__init__(**options)
        self.calls: list[int] = []

    def run(self, circuits, parameter_binds=None, **options):
        self.calls.append(len(next(iter(parameter_binds[0].values()))) if parameter_binds else 1)
        return super().run(circuits, parameter_binds=parameter_binds, **options)


@pytest.fixture(scope="module")
def brisbane():
    return FakeBrisbane()


def angles(circuit, batch, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, circuit.num_parameters, generator=generator, dtype=torch.float64) - 0.5) * 6


def reference(circuit, theta, weights):
    """Exact probabilities and d(sum(probs * weights))/dtheta by torch autograd."""
    theta = theta.clone().requires_grad_()
    probs = StatevectorEngine(circuit, dtype=torch.float64).probabilities(theta)
    (probs * weights).sum().backward()
    return probs.detach(), theta.grad


def run_step(engine, theta, weights):
    theta = theta.clone().requires_grad_()
    probs = engine.probabilities(theta)
    (probs * weights).sum().backward()
    return probs.detach(), theta.grad


def within_shot_noise(probs, exact, shots, slack=0.0):
    tolerance = 5 * torch.sqrt(exact * (1 - exact) / shots) + slack + 1e-9
    return bool(torch.all((probs - exact).abs() <= tolerance))


def test_exact_param_shift_equals_torch_autograd_on_aer():
    circuit = build_ansatz(AnsatzSpec(3, reps=2, rotation="ry_rz"))
    theta = angles(circuit, 3)
    weights = torch.randn(3, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    engine = make_engine("aer_simulator", circuit)
    probs, grad = run_step(engine, theta, weights)
    exact_probs, exact_grad = reference(circuit, theta, weights)
    torch.testing.assert_close(probs, exact_probs, rtol=0, atol=1e-10)
    torch.testing.assert_close(grad, exact_grad, rtol=0, atol=1e-6)


@pytest.mark.parametrize("entanglement", ["linear", "full"])
def test_exact_param_shift_through_a_device_layout(brisbane, entanglement):
    """ISA circuit on a line of FakeBrisbane (ECR basis, physical qubits far from 0..n-1; "full" needs routing
    SWAPs), noise-free Aer."""
    circuit = build_ansatz(AnsatzSpec(3, reps=2, rotation="ry_rz", entanglement=entanglement))
    engine = SamplerEngine(circuit, backend=AerSimulator.from_backend(brisbane, noise_model=None))
    assert max(engine.measured_qubits) >= 3
    assert set(engine.measured_qubits) <= set(engine.isa.layout.final_index_layout())
    assert (swap_count(engine.isa) == 0) == (entanglement == "linear")
    theta = angles(circuit, 2, seed=4)
    weights = torch.randn(2, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    probs, grad = run_step(engine, theta, weights)
    exact_probs, exact_grad = reference(circuit, theta, weights)
    torch.testing.assert_close(probs, exact_probs, rtol=0, atol=1e-10)
    torch.testing.assert_close(grad, exact_grad, rtol=0, atol=1e-6)


def test_param_shift_backward_is_one_sampler_call():
    circuit = build_ansatz(AnsatzSpec(3, reps=1))
    p, batch, shots = circuit.num_parameters, 4, 500
    sampler = RecordingSampler(seed=3)
    engine = SamplerEngine(circuit, sampler, backend=AerSimulator(), shots=shots)
    probs = engine.probabilities(angles(circuit, batch).requires_grad_())
    assert sampler.calls == [[(batch,)]]
    probs.sum().backward()
    assert sampler.calls == [[(batch,)], [(batch * 2 * p,)]], "one PUB with all B*2P shifted sets"
    assert engine.sampler_calls == 2
    assert (engine.circuits_per_forward, engine.circuits_per_backward) == (batch, batch * 2 * p)
    assert engine.shots_total == (batch + batch * 2 * p) * shots
    assert engine.circuits_per_step(batch) == (batch, batch * 2 * p)


@pytest.mark.parametrize("path", ["sampler", "aer fast sampling", "packed"])
def test_sampled_param_shift_gradient_matches_exact_within_shot_noise(path):
    circuit = build_ansatz(AnsatzSpec(2, reps=2))
    batch, shots = 3, 50_000
    if path == "sampler":
        engine = SamplerEngine(circuit, AerSampler(seed=21), backend=AerSimulator(), shots=shots)
    else:
        engine = make_engine("aer_simulator", circuit, shots=shots, pack=3 if path == "packed" else False)
        assert engine.fast_sampling == (path != "packed") and engine.slots == (3 if path == "packed" else 1)
    theta = angles(circuit, batch, seed=9)
    weights = torch.randint(0, 2, (batch, 4), generator=torch.Generator().manual_seed(4)).double() * 2 - 1
    _, grad = run_step(engine, theta, weights)
    _, exact_grad = reference(circuit, theta, weights)
    # Each gradient entry is (w·p+ - w·p-)/2 with |w| = 1: its standard deviation is below 1/sqrt(shots).
    assert torch.all((grad - exact_grad).abs() <= 5 / math.sqrt(shots))


def test_aer_fast_sampling_is_one_aer_run_and_reproducible():
    circuit = build_ansatz(AnsatzSpec(3, reps=1))
    simulator = RecordingSimulator()
    theta = angles(circuit, 4)

    def gradient(seed):
        engine = SamplerEngine(circuit, AerSampler(seed=1), backend=simulator, shots=300, seed=seed, fast_sampling=True)
        _, grad = run_step(engine, theta, torch.ones(4, 8, dtype=torch.float64).cumsum(1))
        assert engine.shots_total == (4 + 4 * 2 * circuit.num_parameters) * 300
        return grad

    first = gradient(seed=3)
    assert simulator.calls == [4 * 2 * circuit.num_parameters], "the forward runs on the sampler, the backward on Aer"
    assert torch.equal(first, gradient(seed=3)) and not torch.equal(first, gradient(seed=4))


def test_exact_mode_is_one_aer_run_per_pass():
    circuit = build_ansatz(AnsatzSpec(3, reps=1))
    simulator = RecordingSimulator()
    engine = SamplerEngine(circuit, backend=simulator)
    engine.probabilities(angles(circuit, 5).requires_grad_()).sum().backward()
    assert simulator.calls == [5, 5 * 2 * circuit.num_parameters]
    assert engine.sampler_calls == 2 and engine.shots_total == 0


@pytest.mark.parametrize("samples", [1, 3])
def test_spsa_is_two_evaluations_per_channel_along_rademacher_directions(samples):
    circuit = build_ansatz(AnsatzSpec(3, reps=2))
    batch, epsilon, seed = 4, 1e-4, 7
    simulator = RecordingSimulator()
    engine = SamplerEngine(circuit, backend=simulator, gradient="spsa", spsa_epsilon=epsilon, spsa_samples=samples,
                           seed=seed)
    theta = angles(circuit, batch, seed=1)
    weights = torch.randn(batch, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    _, grad = run_step(engine, theta, weights)
    assert simulator.calls == [batch, 2 * batch * samples]
    # SPSA's estimate is the directional derivative along each draw times the draw (central difference: O(eps^2)).
    _, exact_grad = reference(circuit, theta, weights)
    delta = torch.from_numpy(spsa_directions((batch, circuit.num_parameters), samples, np.random.default_rng(seed)))
    expected = ((exact_grad[None] * delta).sum(-1, keepdim=True) * delta).mean(0)
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-6)


def test_device_layout_is_mapped_through_samplerqnn_with_the_runtime_sampler(brisbane):
    """Local runtime sampler on FakeBrisbane's layout without noise: only shot noise may remain."""
    circuit = build_ansatz(AnsatzSpec(3, reps=1))
    shots = 4096
    sampler = RuntimeSampler(mode=AerSimulator.from_backend(brisbane, noise_model=None))
    sampler.options.simulator.seed_simulator = 5
    engine = SamplerEngine(circuit, sampler, backend=brisbane, shots=shots)
    assert engine.qnn is not None and max(engine.layout) >= 3
    theta = angles(circuit, 3, seed=2)
    probs = engine.probabilities(theta)
    exact = StatevectorEngine(circuit, dtype=torch.float64).probabilities(theta)
    torch.testing.assert_close(probs.sum(1), torch.ones(3, dtype=torch.float64))
    assert within_shot_noise(probs, exact, shots)


@pytest.mark.slow
def test_fake_brisbane_probabilities_sum_to_one_and_match_exact():
    circuit = build_ansatz(AnsatzSpec(3, reps=1))
    shots = 4096
    engine = make_engine("fake_brisbane", circuit, shots=shots, seed=3)
    theta = angles(circuit, 3, seed=6)
    probs = engine.probabilities(theta)
    exact = StatevectorEngine(circuit, dtype=torch.float64).probabilities(theta)
    torch.testing.assert_close(probs.sum(1), torch.ones(3, dtype=torch.float64))
    # 5 sigma of shot noise plus the device's own noise (readout ~1-3%); a bit-mapping error is ~0.5-1.
    assert within_shot_noise(probs, exact, shots, slack=0.03)


def test_packed_engine_shares_shots_and_matches_exact(brisbane):
    circuit = build_ansatz(AnsatzSpec(2, reps=2))
    batch, shots = 7, 20_000
    sampler = RecordingSampler(seed=9)
    engine = SamplerEngine(circuit, sampler, backend=AerSimulator(), shots=shots, pack=3)
    theta = angles(circuit, batch, seed=3)
    probs = engine.probabilities(theta)
    assert engine.slots == 3 and sampler.calls == [[(3,)]] and engine.circuits_per_forward == 3
    assert engine.shots_total == 3 * shots
    exact = StatevectorEngine(circuit, dtype=torch.float64).probabilities(theta)
    assert within_shot_noise(probs, exact, shots)
    assert engine.circuits_per_step(batch) == (3, math.ceil(batch * 2 * circuit.num_parameters / 3))


def test_packed_circuit_sits_on_disjoint_lines_of_the_device(brisbane):
    circuit = build_ansatz(AnsatzSpec(2, reps=1))
    sampler = AerSampler.from_backend(AerSimulator.from_backend(brisbane, noise_model=None), seed=4)
    engine = SamplerEngine(circuit, sampler, backend=brisbane, shots=20_000, pack=True, max_width=8)
    assert engine.slots == 4 and swap_count(engine.packed_isa) == 0
    theta = angles(circuit, 4, seed=8)
    exact = StatevectorEngine(circuit, dtype=torch.float64).probabilities(theta)
    assert within_shot_noise(engine.probabilities(theta), exact, 20_000)


def test_any_base_sampler_v2_without_a_backend():
    circuit = build_ansatz(AnsatzSpec(2, reps=1))
    engine = SamplerEngine(circuit, StatevectorSampler(seed=1), shots=8000)
    theta = angles(circuit, 2)
    exact = StatevectorEngine(circuit, dtype=torch.float64).probabilities(theta)
    assert within_shot_noise(engine.probabilities(theta), exact, 8000)


def test_param_shift_refuses_circuits_it_cannot_differentiate_exactly():
    t, u = Parameter("t"), Parameter("u")
    doubled = QuantumCircuit(1)
    doubled.ry(2 * t, 0)
    shared = QuantumCircuit(2)
    shared.ry(t, 0)
    shared.ry(t, 1)
    shared.rz(u, 1)
    for circuit in (doubled, shared):
        with pytest.raises(UnsupportedCircuitError, match="--gradient spsa"):
            SamplerEngine(circuit, backend=AerSimulator())
        SamplerEngine(circuit, backend=AerSimulator(), gradient="spsa")  # SPSA has no such limit


def test_exact_mode_needs_a_noise_free_aer_simulator(brisbane):
    circuit = build_ansatz(AnsatzSpec(2, reps=1))
    for backend in (brisbane, AerSimulator.from_backend(brisbane)):
        with pytest.raises(ShotsRequiredError, match="--shots"):
            SamplerEngine(circuit, backend=backend)
