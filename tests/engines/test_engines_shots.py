import pytest
import torch

from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz
from hqctf_qiskit.backends import make_engine
from hqctf_qiskit.engines import ShotsStatevectorEngine, StatevectorEngine
from hqctf_qiskit.engines.shots import sample_counts

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


# -- the sampler: exact multinomial counts, O(outcomes) per row --------------------------------------------------
def seeded(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def dirichlet(outcomes: int, seed: int) -> torch.Tensor:
    """A fixed probability vector with unequal entries (none tiny), float64."""
    weights = torch.rand(outcomes, generator=seeded(seed), dtype=torch.float64) + 0.4
    return weights / weights.sum()


def test_counts_are_whole_shots_summing_to_the_shots_of_each_row():
    probs = torch.softmax(torch.randn(64, 16, generator=seeded(1)) * 3, dim=1)  # float32: rows sum to 1 +- ulps
    counts = sample_counts(probs, 1000, seeded(2))
    assert counts.dtype == torch.float64 and counts.shape == (64, 16)
    assert torch.equal(counts, counts.round()) and bool(torch.all(counts >= 0))
    assert torch.equal(counts.sum(1), torch.full((64,), 1000.0, dtype=torch.float64))


def test_zero_probability_outcomes_are_never_drawn():
    rows = torch.tensor([
        [1, 0, 0, 0, 0, 0, 0, 0],  # all mass on the first outcome
        [0, 0, 0, 0, 0, 0, 0, 1],  # ... on the last one
        [0, 0, 0, 0, 1, 2, 3, 4],  # a zero half at the root
        [1, 2, 3, 4, 0, 0, 0, 0],
        [1, 0, 1, 0, 1, 0, 1, 0],  # zero leaves under every parent
        [0, 1e-300, 0, 0, 0, 0, 1, -1e-12],  # a tiny mass next to zeros; a negative rounding error
    ], dtype=torch.float64)
    for shots in (3, 4096):
        counts = sample_counts(rows.repeat(2000, 1), shots, seeded(shots))
        assert torch.all(counts[rows.repeat(2000, 1) <= 0] == 0)
        assert torch.all(counts[0::6, 0] == shots) and torch.all(counts[1::6, 7] == shots)


@pytest.mark.parametrize("shots", [7, 1000])  # torch.binomial's inversion (small n·p) and BTRS (large) paths
def test_mean_and_covariance_equal_the_multinomials(shots):
    p = dirichlet(8, seed=shots)
    draws = 40_000
    counts = sample_counts(p.expand(draws, 8), shots, seeded(3))
    exact_cov = shots * (torch.diag(p) - torch.outer(p, p))  # N p_i (1 - p_i) on the diagonal, -N p_i p_j off it
    mean_error = (counts.mean(0) - shots * p).abs()
    assert torch.all(mean_error <= 5 * torch.sqrt(exact_cov.diag() / draws))
    variance = exact_cov.diag()
    # standard error of a sample covariance (normal approximation; 8 of them covers the binomial's excess kurtosis)
    cov_se = torch.sqrt((torch.outer(variance, variance) + exact_cov**2) / draws)
    assert torch.all((torch.cov(counts.T) - exact_cov).abs() <= 8 * cov_se)


@pytest.mark.parametrize("outcomes, shots", [(3, 5), (8, 3)])  # 3 outcomes: padded to a tree of 4 leaves
def test_count_vectors_follow_scipys_multinomial_by_chi_square(outcomes, shots):
    from itertools import combinations_with_replacement

    from scipy.stats import chisquare, multinomial

    p = dirichlet(outcomes, seed=outcomes)
    draws = 20_000
    counts = sample_counts(p.expand(draws, outcomes), shots, seeded(4)).to(torch.int64)
    observed: dict[tuple[int, ...], int] = {}
    for row in map(tuple, counts.tolist()):
        observed[row] = observed.get(row, 0) + 1
    support = [tuple(sum(1 for c in combo if c == k) for k in range(outcomes))
               for combo in combinations_with_replacement(range(outcomes), shots)]
    assert set(observed) <= set(support)
    expected = [draws * multinomial.pmf(list(vector), shots, p.numpy()) for vector in support]
    common = [i for i, e in enumerate(expected) if e >= 5]  # rare vectors pooled into one bin (chi-square validity)
    rare = [i for i in range(len(support)) if i not in common]
    f_obs = [observed.get(support[i], 0) for i in common]
    f_exp = [expected[i] for i in common]
    if rare:
        f_obs.append(sum(observed.get(support[i], 0) for i in rare))
        f_exp.append(sum(expected[i] for i in rare))
    assert len(common) >= 10
    assert chisquare(f_obs, f_exp).pvalue > 1e-3


def test_same_seed_same_counts():
    probs = torch.softmax(torch.randn(32, 64, generator=seeded(5), dtype=torch.float64), dim=1)
    first = sample_counts(probs, 4096, seeded(9))
    assert torch.equal(first, sample_counts(probs, 4096, seeded(9)))
    assert not torch.equal(first, sample_counts(probs, 4096, seeded(10)))


@pytest.mark.parametrize("row", [[0.0, 0.0, 0.0, 0.0], [0.5, float("nan"), 0.5, 0.0], [-1.0, -2.0, 0.0, 0.0]])
def test_a_row_without_probability_mass_is_a_bug_not_a_sample(row):
    with pytest.raises(ValueError, match="positive, finite probability mass"):
        sample_counts(torch.tensor([[0.25] * 4, row], dtype=torch.float64), 10, seeded(0))


def test_engine_never_draws_an_impossible_outcome(circuit):
    zero = torch.zeros(3, circuit.num_parameters, dtype=torch.float64)  # RY/RZ(0) and CX keep |0000>: p = e_0
    sampled = ShotsStatevectorEngine(circuit, 4096, dtype=torch.float64, seed=0).probabilities(zero)
    torch.testing.assert_close(sampled, torch.eye(16, dtype=torch.float64)[[0, 0, 0]], rtol=0, atol=0)


@requires_cuda
def test_sample_counts_on_cuda():
    p = dirichlet(16, seed=6).cuda()
    p[3] = 0
    p = p / p.sum()
    counts = sample_counts(p.expand(20_000, 16), 4096, seeded(1, "cuda"))
    assert counts.device.type == "cuda" and torch.all(counts.sum(1) == 4096) and torch.all(counts[:, 3] == 0)
    assert torch.equal(counts, sample_counts(p.expand(20_000, 16), 4096, seeded(1, "cuda")))
    tolerance = 5 * torch.sqrt(4096 * p * (1 - p) / 20_000) + 1e-9
    assert torch.all((counts.mean(0) - 4096 * p).abs() <= tolerance)
