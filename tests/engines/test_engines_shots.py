import pytest
import torch

from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz
from hqctf_qiskit.backends import make_engine
from hqctf_qiskit.engines import ShotsStatevectorEngine, StatevectorEngine

from helpers import requires_cuda


@pytest.fixture(scope="module")
def circuit():
    return build_ansatz(AnsatzSpec(4, reps=2, rotation="ry_rz"))


def angles(circuit, batch=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, circuit.num_parameters, generator=generator, dtype=torch.float64) - 0.5) * 6


def test_forward_is_a_distribution_in_steps_of_one_shot(circuit):
    shots = 256
    probs = ShotsStatevectorEngine(circuit, shots, dtype=torch.float64, seed=1).probabilities(angles(circuit))
    counts = probs * shots
    assert torch.allclose(counts, counts.round(), atol=1e-9)
    assert torch.all(probs >= 0)
    torch.testing.assert_close(probs.sum(1), torch.ones(5, dtype=torch.float64))


def test_gradient_is_the_exact_gradient(circuit):
    theta = angles(circuit)
    weights = torch.randn(5, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    exact_theta = theta.clone().requires_grad_()
    (StatevectorEngine(circuit, dtype=torch.float64).probabilities(exact_theta) * weights).sum().backward()
    shots_theta = theta.clone().requires_grad_()
    sampled = ShotsStatevectorEngine(circuit, 100, dtype=torch.float64, seed=0).probabilities(shots_theta)
    (sampled * weights).sum().backward()
    torch.testing.assert_close(shots_theta.grad, exact_theta.grad, rtol=0, atol=1e-12)


def test_reproducible_for_a_seed_and_fresh_noise_per_call(circuit):
    theta = angles(circuit)
    first = ShotsStatevectorEngine(circuit, 64, seed=7)
    again = ShotsStatevectorEngine(circuit, 64, seed=7)
    a1, a2 = first.probabilities(theta), first.probabilities(theta)
    assert torch.equal(a1, again.probabilities(theta)) and torch.equal(a2, again.probabilities(theta))
    assert not torch.equal(a1, a2), "successive forwards draw new shots"
    assert not torch.equal(a1, ShotsStatevectorEngine(circuit, 64, seed=8).probabilities(theta))


def test_estimates_are_unbiased_within_shot_noise(circuit):
    shots = 100_000
    theta = angles(circuit, batch=3)
    exact = StatevectorEngine(circuit, dtype=torch.float64).probabilities(theta)
    sampled = ShotsStatevectorEngine(circuit, shots, dtype=torch.float64, seed=5).probabilities(theta)
    tolerance = 5 * torch.sqrt(exact * (1 - exact) / shots) + 1e-9
    assert torch.all((sampled - exact).abs() <= tolerance)


def test_torch_backend_with_shots_uses_the_shots_engine(circuit):
    assert isinstance(make_engine("torch", circuit, shots=32, seed=0), ShotsStatevectorEngine)
    assert isinstance(make_engine("torch", circuit), StatevectorEngine)
    with pytest.raises(ValueError, match="--shots"):
        make_engine("torch", circuit, shots=0)


@requires_cuda
def test_shots_engine_on_cuda(circuit):
    theta = angles(circuit).cuda().requires_grad_()
    engine = ShotsStatevectorEngine(circuit, 128, dtype=torch.float64, seed=2)
    probs = engine.probabilities(theta)
    assert probs.device.type == "cuda"
    probs.sum().backward()
    assert theta.grad is not None
