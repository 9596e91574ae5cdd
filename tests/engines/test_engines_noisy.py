"""The noisy torch engine (--noise) against Qiskit's DensityMatrix and Aer's density-matrix simulation of the same
ISA circuit under the device's noise model; its placement against the sampler engine's; its gradient, zero-noise
limit and shots path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.primitives import StatevectorSampler
from qiskit.quantum_info import DensityMatrix, SuperOp, random_quantum_channel, random_unitary

from hqctf_qiskit.backends import make_engine
from hqctf_qiskit.backends.noise import DeviceNoise, device_noise, noisy_engine, placement_lines
from hqctf_qiskit.backends.spec import BackendSpec
from hqctf_qiskit.circuits.ansatz import AnsatzSpec, build_ansatz
from hqctf_qiskit.circuits.packing import max_slots
from hqctf_qiskit.circuits.transpile import find_line_layouts
from hqctf_qiskit.engines import density
from hqctf_qiskit.engines.base import UnsupportedCircuitError
from hqctf_qiskit.engines.noisy import NoisyDensityMatrixEngine
from hqctf_qiskit.engines.sampler import SamplerEngine, measured_qubits
from hqctf_qiskit.engines.statevector import StatevectorEngine
from hqctf_qiskit.errors import BackendError, ConfigError
from hqctf_qiskit.hardware.noise_check import aer_noisy_probabilities, readout_matrices, total_variation


def ansatz(n: int, reps: int = 2):
    return build_ansatz(AnsatzSpec(num_qubits=n, reps=reps))


def random_theta(batch: int, count: int, seed: int = 0) -> torch.Tensor:
    return torch.tensor(np.random.default_rng(seed).uniform(0, 2 * np.pi, (batch, count)), dtype=torch.float64)


def aer_reference(engine: NoisyDensityMatrixEngine, theta: torch.Tensor, full: bool) -> np.ndarray:
    """Aer's density-matrix probabilities (with the device's readout errors) of the engine's first ISA circuit.

    ``full``: Aer builds its own ``NoiseModel.from_backend`` of the whole device (10-40 s on this machine), which also
    checks that the engine's model, built for the line's qubits only, has the same entries; otherwise Aer runs the
    engine's restricted model (the simulation itself is still Aer's)."""
    from qiskit_aer import AerSimulator

    noise = engine.noise
    options = {} if full else {"noise_model": noise.model_for(engine.programs[0].physical)}
    simulator = AerSimulator.from_backend(noise.device, method="density_matrix", **options)
    return aer_noisy_probabilities(simulator, engine.isa_circuits[0], theta.numpy(), readout_matrices(noise.device))


# -- the density-matrix layer -------------------------------------------------------------------------------------
def test_density_digits_follow_qiskit_density_matrix():
    """Channels on single, neighbouring, reversed, distant and three qubits, then the marginal with readout, in the
    Pauli basis the engine computes in (real states and transfer matrices)."""
    m = 4
    reference = DensityMatrix.from_label("0" * m).evolve(random_unitary(2**m, seed=1))
    state = density.pauli_zero_state(1, m, torch.float64, torch.device("cpu"))
    everything = density.digit_superop(SuperOp(random_unitary(2**m, seed=1)).data, list(range(m)))
    state = density.apply_superop(state, torch.tensor(density.to_pauli(everything)), tuple(reversed(range(m))))
    for seed, qubits in enumerate([(2,), (0, 1), (3, 2), (1, 3), (2, 0, 3)]):
        channel = random_quantum_channel(2 ** len(qubits), seed=seed)
        reference = reference.evolve(channel, qargs=list(qubits))
        digits = density.to_pauli(density.digit_superop(SuperOp(channel).data, list(qubits)))
        state = density.apply_superop(state, torch.tensor(digits), tuple(sorted(qubits, reverse=True)))
    confusion = np.array([[0.9, 0.1], [0.2, 0.8]])
    functionals = [confusion.T @ density.DIAGONAL, density.DIAGONAL, density.TRACE, density.TRACE]
    functionals = [torch.tensor(density.to_pauli(f, side="right")) for f in functionals]
    ours = density.measure(state, functionals)[0].numpy()
    marginal = reference.probabilities([0, 1])  # qubit 0 least significant
    expected = (np.kron(np.eye(2), confusion.T) @ marginal)
    assert np.abs(ours - expected).max() < 1e-12


# -- against Aer ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device, n, full", [
    ("fake_brisbane", 3, False), ("fake_brisbane", 4, False), ("fake_fez", 4, False),
    pytest.param("fake_brisbane", 3, True, marks=pytest.mark.slow), pytest.param("fake_fez", 3, True,
                                                                                   marks=pytest.mark.slow),
])
def test_matches_aer_density_matrix_with_readout(device, n, full):
    """ECR (Brisbane) and CZ (Fez) devices: TVD to Aer ~1e-9 (measured 7e-10 to 5e-9), goal 1e-5."""
    engine = noisy_engine(ansatz(n), BackendSpec("torch", noise=device, seed=2), device_noise(device))
    theta = random_theta(3, engine.num_parameters, seed=n)
    ours = engine.probabilities(theta).numpy()
    reference = aer_reference(engine, theta, full)
    assert np.allclose(ours.sum(1), 1)
    assert total_variation(ours, reference).max() < 1e-5
    noiseless = StatevectorEngine(ansatz(n), dtype=torch.float64).probabilities(theta).numpy()
    assert total_variation(ours, noiseless).min() > 1e-3  # the noise is really there


# -- placement: the sampler path's qubits -------------------------------------------------------------------------
def test_lines_are_the_sampler_engines_lines_unpacked_and_packed():
    noise = device_noise("fake_brisbane")
    circuit = ansatz(3, reps=1)
    sampler = SamplerEngine(circuit, StatevectorSampler(seed=0), backend=noise.device, shots=64, seed=1)
    engine = noisy_engine(circuit, BackendSpec("torch", noise="fake_brisbane", seed=1), noise)
    assert [p.measured_physical for p in engine.programs] == [measured_qubits(sampler.isa)] == [sampler.layout]

    packed_sampler = SamplerEngine(circuit, StatevectorSampler(seed=0), backend=noise.device, shots=64, seed=1,
                                   pack=True, max_width=noise.max_width)
    packed = noisy_engine(circuit, BackendSpec("torch", noise="fake_brisbane", seed=1, pack=True), noise)
    slots = [measured_qubits(packed_sampler.packed_isa, f"c{k}") for k in range(packed_sampler.slots)]
    assert len(slots) > 1 and [p.measured_physical for p in packed.programs] == slots

    # channel c runs on line c mod L: equal parameters give equal rows on one line, different ones across lines
    lines = len(packed.programs)
    theta = random_theta(1, packed.num_parameters).repeat(2 * lines, 1)
    rows = packed.probabilities(theta)
    assert torch.allclose(rows[0], rows[lines], atol=1e-12)
    assert (rows[0] - rows[1]).abs().max() > 1e-4


def test_lines_follow_the_layers_gate_usage_as_the_sampler_picks_them():
    """n=5 on fake_brisbane: the sampler scores lines by the layer's own gate usage, which packs other lines (and
    another number of them) than the usage-blind search; the noisy engine must run on the sampler's."""
    noise = device_noise("fake_brisbane")
    circuit = ansatz(5)
    sampler = SamplerEngine(circuit, StatevectorSampler(seed=0), backend=noise.device, shots=64, seed=1)
    engine = noisy_engine(circuit, BackendSpec("torch", noise="fake_brisbane", seed=1), noise)
    assert [p.measured_physical for p in engine.programs] == [measured_qubits(sampler.isa)] == [sampler.layout]

    # packed with no width cap (as a live device's sampler packs), so every line the device offers is compared
    uncapped = DeviceNoise("fake_brisbane", noise.device, None)
    packed_sampler = SamplerEngine(circuit, StatevectorSampler(seed=0), backend=noise.device, shots=64, seed=1,
                                   pack=True)
    lines = placement_lines(uncapped, circuit, pack=True, seed=1)
    assert len(lines) == packed_sampler.slots > 1 and lines == packed_sampler.slot_qubits
    usage_blind = find_line_layouts(noise.device, 5, count=max_slots(noise.device, 5))
    assert lines != usage_blind  # this device and layer tell the two searches apart


def test_too_wide_circuit_is_refused_with_one_line():
    with pytest.raises(UnsupportedCircuitError, match="--noise: .*at most 8"):
        noisy_engine(ansatz(9, reps=1), BackendSpec("torch", noise="fake_brisbane"), device_noise("fake_brisbane"))


# -- gradient, zero-noise limit, shots ----------------------------------------------------------------------------
def test_gradient_matches_finite_differences():
    engine = noisy_engine(ansatz(3, reps=1), BackendSpec("torch", noise="fake_fez"), device_noise("fake_fez"))
    theta = random_theta(2, engine.num_parameters, seed=5).requires_grad_(True)
    weights = torch.linspace(-1, 1, 2**3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: engine.probabilities(t) @ weights, (theta,), eps=1e-6, atol=1e-7)


def test_zero_noise_equals_the_statevector_engine():
    """An ideal noise model on the same device and lines: the ISA circuit's exact probabilities, in logical order."""
    from qiskit_aer.noise import NoiseModel

    device = device_noise("fake_brisbane").device
    ideal = DeviceNoise("ideal", device, None, [(frozenset(range(device.num_qubits)), NoiseModel())])
    circuit = ansatz(4)
    lines = placement_lines(ideal, circuit, pack=2, seed=3)
    engine = NoisyDensityMatrixEngine(circuit, ideal, lines, seed=3)
    theta = random_theta(5, engine.num_parameters, seed=7)
    exact = StatevectorEngine(circuit, dtype=torch.float64).probabilities(theta)
    assert len(lines) == 2 and torch.allclose(engine.probabilities(theta), exact, atol=1e-12)


def test_shots_sample_the_noisy_probabilities_with_the_exact_gradient():
    spec = BackendSpec("torch", noise="fake_brisbane", shots=512, seed=4)
    engine = noisy_engine(ansatz(3, reps=1), spec, device_noise("fake_brisbane"))
    theta = random_theta(4, engine.num_parameters, seed=9).requires_grad_(True)
    weights = torch.arange(8, dtype=torch.float64)
    sampled = engine.probabilities(theta)
    counts = sampled.detach() * 512
    assert torch.allclose(counts, counts.round(), atol=1e-9)
    assert torch.allclose(sampled.sum(1), torch.ones(4, dtype=torch.float64))
    (grad_sampled,) = torch.autograd.grad(sampled @ weights, theta, torch.ones(4, dtype=torch.float64))
    (grad_exact,) = torch.autograd.grad(engine.exact_probabilities(theta) @ weights, theta,
                                        torch.ones(4, dtype=torch.float64))
    assert torch.allclose(grad_sampled, grad_exact)


# -- wiring -------------------------------------------------------------------------------------------------------
def test_torch_backend_with_noise_builds_the_noisy_engine_and_float32_agrees():
    circuit = ansatz(3, reps=1)
    engine = make_engine("torch", circuit, noise="fake_brisbane", seed=1)
    assert isinstance(engine, NoisyDensityMatrixEngine)
    theta = random_theta(2, engine.num_parameters)
    single = engine.probabilities(theta.float())
    assert single.dtype == torch.float32
    assert torch.allclose(single.double(), engine.probabilities(theta), atol=1e-5)


def test_noise_rules_name_the_option():
    from hqctf_qiskit.config.schema import TrainConfig

    with pytest.raises(ConfigError, match="--noise: only --backend torch"):
        BackendSpec("fake_fez", shots=100, noise="fake_brisbane")
    with pytest.raises(ConfigError, match="not a device"):
        BackendSpec("torch", noise="aer_simulator")
    with pytest.raises(ConfigError, match="--noise: only --backend torch"):
        TrainConfig.from_flat({"noise": "fake_brisbane", "backend": "aer_simulator"}, source={"noise": "--noise"})
    with pytest.raises(BackendError, match="^--noise fake_nowhere: no such fake device"):
        device_noise("fake_nowhere")
