import numpy as np
import pytest
from qiskit.primitives import BitArray
from qiskit.quantum_info import Statevector
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2 as AerSampler
from qiskit_ibm_runtime.fake_provider import FakeBrisbane

from hqctf_qiskit.circuits import (
    AnsatzSpec, build_ansatz, find_line_layouts, marginal_probabilities, max_slots, pack_ansatz,
)
from hqctf_qiskit.circuits.packing import bitarray_probabilities
from hqctf_qiskit.circuits.transpile import SIMULATOR_WIDTH_LIMIT


def exact(circuit, theta: np.ndarray) -> np.ndarray:
    return np.stack([Statevector(circuit.assign_parameters(row)).probabilities() for row in theta])


def test_pack_ansatz_layout_of_the_wide_circuit():
    packed = pack_ansatz(AnsatzSpec(3, reps=1), 4)
    assert (packed.slots, packed.num_qubits, packed.parameters_per_slot) == (4, 3, 6)
    assert packed.circuit.num_qubits == 12 and packed.circuit.num_parameters == 24
    assert [register.name for register in packed.circuit.cregs] == ["c0", "c1", "c2", "c3"]
    for k, register in enumerate(packed.circuit.cregs):  # register c{k} measures slot k's qubits in order
        measured = [packed.circuit.find_bit(i.qubits[0]).index for i in packed.circuit.data
                    if i.operation.name == "measure" and i.clbits[0] in register]
        assert measured == [3 * k, 3 * k + 1, 3 * k + 2]


def test_parameter_rows_land_in_their_slots_with_twelve_slots():
    """12 slots: vector names s10, s11 sort before s2 as strings, so a naive order would scramble slots."""
    spec = AnsatzSpec(1, reps=1, rotation="ry_rz")  # 1 qubit, 4 parameters per slot
    packed = pack_ansatz(spec, 12)
    theta = np.random.default_rng(0).uniform(-np.pi, np.pi, (12, packed.parameters_per_slot))
    bound = packed.circuit.remove_final_measurements(inplace=False).assign_parameters(packed.parameter_values(theta)[0])
    state = Statevector(bound)
    per_slot = np.stack([state.probabilities([k]) for k in range(12)])
    np.testing.assert_allclose(per_slot, exact(build_ansatz(spec), theta), atol=1e-12)


def test_rows_are_padded_and_unpacked_in_channel_order():
    packed = pack_ansatz(AnsatzSpec(2, reps=1), 3)
    theta = np.arange(7 * 4, dtype=float).reshape(7, 4)
    rows = packed.parameter_values(theta)
    assert rows.shape == (3, 12) and packed.packed_rows(7) == 3
    slot_probs = np.arange(3 * 3 * 4, dtype=float).reshape(3, 3, 4)
    np.testing.assert_array_equal(packed.unpack(slot_probs, 7), slot_probs.reshape(9, 4)[:7])
    with pytest.raises(ValueError, match=r"\[B, 4\]"):
        packed.parameter_values(np.zeros((2, 5)))


def test_marginals_match_per_slot_exact_probabilities():
    spec = AnsatzSpec(2, reps=2)
    packed = pack_ansatz(spec, 3)
    theta = np.random.default_rng(1).uniform(-np.pi, np.pi, (5, packed.parameters_per_slot))
    shots = 40_000
    result = AerSampler(seed=11, default_shots=shots).run([(packed.circuit, packed.parameter_values(theta))]).result()
    slots = marginal_probabilities(result[0])
    assert slots.shape == (2, 3, 4)
    probs = packed.unpack(slots, 5)
    reference = exact(build_ansatz(spec), theta)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    tolerance = 5 * np.sqrt(reference * (1 - reference) / shots) + 1e-9
    assert np.all(np.abs(probs - reference) <= tolerance)


def test_bitarray_probabilities_match_qiskit_counts_across_bytes():
    rng = np.random.default_rng(2)
    samples = [format(int(v), "011b") for v in rng.integers(0, 2**11, size=500)]
    bits = BitArray.from_samples(samples, num_bits=11)
    probs = bitarray_probabilities(bits)
    assert probs.shape == (2**11,)
    for key, count in bits.get_counts().items():
        assert probs[int(key, 2)] == pytest.approx(count / 500)
    # A subset of bits, reordered: outcome bit i is register bit positions[i].
    positions = [9, 2, 10]
    subset = bitarray_probabilities(bits, positions)
    expected = np.zeros(8)
    for key, count in bits.get_counts().items():
        value = int(key, 2)
        expected[sum(((value >> p) & 1) << i for i, p in enumerate(positions))] += count / 500
    np.testing.assert_allclose(subset, expected)


def test_max_slots_counts_device_lines_and_caps_simulators():
    brisbane = FakeBrisbane()
    assert max_slots(brisbane, 4) == len(find_line_layouts(brisbane, 4)) >= 20
    assert max_slots(AerSimulator(), 4) == SIMULATOR_WIDTH_LIMIT // 4
    assert max_slots(AerSimulator(), 40) == 1
