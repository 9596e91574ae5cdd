"""Readout mitigation: the linear algebra against independent references (Kronecker products, mthree's own
routines), and on fake_brisbane against the ideal distribution of product states (Qiskit Statevector)."""

import numpy as np
import pytest
import torch
from mthree import M3Mitigation
from mthree.probability import quasi_to_probs
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.quantum_info import Statevector

from hqctf_qiskit.backends import make_engine
from hqctf_qiskit.backends.ibm import apply_runtime_options
from hqctf_qiskit.backends.spec import BackendSpec
from hqctf_qiskit.engines.mitigation import ReadoutMitigation, nearest_probabilities, tensored_inverse
from hqctf_qiskit.errors import BackendError, ConfigError

SHOTS = 4096
# Basis states (RY(0) or RY(pi) on each qubit): the ideal distribution is one outcome, so every misread shot shows.
THETA = torch.tensor([[np.pi, 0, np.pi, 0], [0, np.pi, np.pi, np.pi], [np.pi, np.pi, 0, np.pi]], dtype=torch.float64)


def random_assignment(rng):
    """A 2x2 column-stochastic readout matrix with errors up to 10% (asymmetric, as on devices)."""
    flip0, flip1 = rng.uniform(0.0, 0.1, size=2)
    return np.array([[1 - flip0, flip1], [flip0, 1 - flip1]])


def test_tensored_inverse_recovers_the_true_vector_of_a_synthetic_confusion():
    rng = np.random.default_rng(0)
    n = 3
    matrices = [random_assignment(rng) for _ in range(n)]  # matrices[i] acts on bit i (little-endian)
    true = rng.dirichlet(np.ones(2**n), size=4)
    confusion = np.kron(matrices[2], np.kron(matrices[1], matrices[0]))  # bit 0 is the last Kronecker factor
    measured = true @ confusion.T
    np.testing.assert_allclose(tensored_inverse(measured, matrices), true, atol=1e-12)
    # The order matters: the same matrices on the wrong bits do not undo it.
    assert np.abs(tensored_inverse(measured, matrices[::-1]) - true).max() > 1e-3


def test_nearest_probabilities_is_the_euclidean_projection_of_mthree():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.05, size=(6, 16))
    quasi = rng.dirichlet(np.ones(16), size=6) + noise - noise.mean(axis=1, keepdims=True)  # sums to 1, some < 0
    assert (quasi < 0).any()
    projected = nearest_probabilities(quasi)
    assert np.all(projected >= 0) and np.allclose(projected.sum(axis=1), 1.0)
    for row, result in zip(quasi, projected):  # mthree's Smolin-Gambetta-Smith routine over all 16 outcomes
        reference, _ = quasi_to_probs({format(k, "04b"): value for k, value in enumerate(row)})
        expected = np.zeros(16)
        for key, value in reference.items():
            expected[int(key, 2)] = value
        np.testing.assert_allclose(result, expected, atol=1e-12)
    distribution = rng.dirichlet(np.ones(16), size=2)
    np.testing.assert_allclose(nearest_probabilities(distribution), distribution, atol=1e-15)


def basis_state_circuit(n=4):
    angles = ParameterVector("t", n)
    circuit = QuantumCircuit(n, name="basis_states")
    for qubit, angle in enumerate(angles):
        circuit.ry(angle, qubit)
    return circuit


def ideal(circuit, theta):
    return np.stack([Statevector(circuit.assign_parameters(list(row))).probabilities() for row in theta.numpy()])


def tvd(probs, reference):
    return 0.5 * np.abs(np.asarray(probs) - reference).sum(axis=1)


@pytest.fixture(scope="module")
def mitigated_run():
    """A fake_brisbane engine with readout mitigation, its mitigated forward, and a raw (unmitigated) sample of the
    same ISA circuit from its SamplerQNN on the same sampler."""
    circuit = basis_state_circuit()
    engine = make_engine("fake_brisbane", circuit, shots=SHOTS, seed=7, mitigation="readout")
    calibration_circuits = engine.circuits_total
    probs = engine.probabilities(THETA).numpy()
    raw = np.asarray(engine.qnn.forward(THETA.numpy(), None), dtype=np.float64)
    yield {"engine": engine, "probs": probs, "raw": raw, "ideal": ideal(circuit, THETA),
           "calibration_circuits": calibration_circuits}
    engine.close()


def is_probability_vector(probs):
    return bool(np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-12))


def test_calibration_measures_the_readout_errors_of_the_devices_target(mitigated_run):
    engine = mitigated_run["engine"]
    mitigation = engine.mitigation
    assert sorted(mitigation.matrices) == sorted(engine.measured_qubits)
    # Calibrated through the engine's own (counting) sampler: mthree's balanced scheme, 8 patterns for 4 qubits.
    assert mitigated_run["calibration_circuits"] == mitigation.calibration_circuits == 8
    for qubit in engine.measured_qubits:
        matrix = mitigation.matrices[qubit]
        np.testing.assert_allclose(matrix.sum(axis=0), 1.0)
        average_error = (matrix[1, 0] + matrix[0, 1]) / 2  # the noise model's readout error is the target's
        assert abs(average_error - engine.backend.target["measure"][(qubit,)].error) < 0.01


def test_mitigated_engine_is_closer_to_the_ideal_distribution(mitigated_run):
    raw_tvd = tvd(mitigated_run["raw"], mitigated_run["ideal"]).mean()
    mitigated_tvd = tvd(mitigated_run["probs"], mitigated_run["ideal"]).mean()
    assert is_probability_vector(mitigated_run["probs"])
    assert raw_tvd > 0.01, "the device's readout errors should be visible without mitigation"
    assert mitigated_tvd < 0.5 * raw_tvd and mitigated_tvd < 0.01, (raw_tvd, mitigated_tvd)


def test_the_gradient_path_is_mitigated_too(mitigated_run):
    engine = mitigated_run["engine"]
    rows = engine.evaluate(THETA.numpy())  # what parameter-shift runs for its shifted parameter sets
    assert is_probability_vector(rows)
    assert tvd(rows, mitigated_run["ideal"]).mean() < 0.5 * tvd(mitigated_run["raw"], mitigated_run["ideal"]).mean()


@pytest.mark.parametrize("method", ["readout", "m3"])
def test_each_method_reduces_the_distance_to_ideal(mitigated_run, method):
    engine = mitigated_run["engine"]
    mitigation = ReadoutMitigation(method, engine.backend)
    mitigation.matrices = dict(engine.mitigation.matrices)  # the same calibration
    mitigated = mitigation.apply(mitigated_run["raw"], engine.measured_qubits, SHOTS)
    assert is_probability_vector(mitigated)
    raw_tvd, mitigated_tvd = tvd(mitigated_run["raw"], mitigated_run["ideal"]), tvd(mitigated, mitigated_run["ideal"])
    assert np.all(mitigated_tvd < 0.5 * raw_tvd), (raw_tvd, mitigated_tvd)


def test_m3_equals_mthree_called_directly_on_the_same_counts(mitigated_run):
    engine, raw = mitigated_run["engine"], mitigated_run["raw"]
    qubits = engine.measured_qubits
    mitigation = ReadoutMitigation("m3", engine.backend)
    mitigation.matrices = dict(engine.mitigation.matrices)
    ours = mitigation.apply(raw, qubits, SHOTS)

    reference = M3Mitigation()
    cals = [None] * (max(qubits) + 1)
    for qubit in qubits:
        cals[qubit] = engine.mitigation.matrices[qubit].astype(np.float32)
    reference.cals_from_matrices(cals)
    counts = [{format(k, "04b"): int(round(p * SHOTS)) for k, p in enumerate(row) if p > 0} for row in raw]
    expected = np.zeros_like(raw)
    for row, distribution in enumerate(reference.apply_correction(counts, qubits).nearest_probability_distribution()):
        for key, value in distribution.items():
            expected[row, int(key, 2)] = value
    np.testing.assert_allclose(ours, expected, atol=1e-6)


@pytest.mark.slow
def test_packed_engine_mitigates_each_slot_on_its_own_qubits():
    circuit = basis_state_circuit()
    engine = make_engine("fake_brisbane", circuit, shots=SHOTS, seed=4, mitigation="m3", pack=2)
    try:
        assert engine.slots == 2
        calibrated = sorted(engine.mitigation.matrices)
        assert calibrated == sorted(q for qubits in engine.slot_qubits for q in qubits)
        probs = engine.probabilities(THETA).numpy()
        assert is_probability_vector(probs)
        assert tvd(probs, ideal(circuit, THETA)).mean() < 0.01
    finally:
        engine.close()


# -- options --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, option", [
    ({"name": "aer_simulator", "shots": 100, "mitigation": "m3"}, "--mitigation m3"),
    ({"name": "torch", "mitigation": "readout"}, "--mitigation readout"),
    ({"name": "fake_brisbane", "shots": 100, "twirling": True}, "--twirling"),
    ({"name": "fake_brisbane", "shots": 100, "dd": "XY4"}, "--dd"),
    ({"name": "fake_brisbane", "shots": 100, "mitigation": "best"}, "--mitigation"),
])
def test_options_that_do_not_apply_are_one_line_errors(options, option):
    with pytest.raises(ConfigError) as caught:
        BackendSpec(**options)
    assert str(caught.value).startswith(option + ":") and "\n" not in str(caught.value)


def test_dd_sequence_is_checked_against_the_installed_runtime():
    BackendSpec("ibm_fez", shots=100, dd="XY4", twirling=True, mitigation="m3")  # no network: a spec only
    with pytest.raises(BackendError, match=r"^--dd: unknown sequence 'XYZ'; .* offers XX, XpXm, XY4$"):
        BackendSpec("ibm_fez", shots=100, dd="XYZ")


def test_twirling_and_dd_reach_the_runtime_samplers_options():
    from qiskit_ibm_runtime.executor_sampler import Sampler
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    sampler = Sampler(mode=FakeManilaV2())
    apply_runtime_options(sampler, twirling=True, dd="XpXm")
    assert sampler.options.twirling.enable_gates and sampler.options.twirling.enable_measure
    assert sampler.options.dynamical_decoupling.enable
    assert sampler.options.dynamical_decoupling.sequence_type == "XpXm"
    untouched = Sampler(mode=FakeManilaV2())
    apply_runtime_options(untouched)
    assert not untouched.options.dynamical_decoupling.enable and not untouched.options.twirling.enable_gates


def test_evaluate_refuses_mitigation_options_before_any_work(capsys, tmp_path):
    from helpers import one_error_line, run_cli

    code, _, err = run_cli(capsys, "evaluate", tmp_path, "--mitigation", "m3")
    assert one_error_line(code, err) == "error: --mitigation: only meaningful with --weights-from BACKEND"
    code, _, err = run_cli(capsys, "evaluate", tmp_path, "--weights-from", "fake_brisbane", "--shots", 64,
                           "--dd", "XY4")
    assert one_error_line(code, err).startswith("error: --dd: an IBM Runtime sampler option, for ibm_* backends only")
    assert not any(tmp_path.iterdir()), "refused before the run was read or an output folder made"
