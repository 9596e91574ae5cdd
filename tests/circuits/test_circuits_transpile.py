import copy
from types import SimpleNamespace

import pytest
import rustworkx as rx
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import CXGate, Measure
from qiskit.transpiler import InstructionProperties, Target
from qiskit_ibm_runtime.fake_provider import FakeBrisbane, FakeTorino

from helpers import isa_success

from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz, find_line_layouts, swap_count, transpile_isa
from hqctf_qiskit.circuits.stats import two_qubit_gate_count
from hqctf_qiskit.circuits.transpile import (SIMULATOR_WIDTH_LIMIT, LineUsage, circuit_lines, circuit_usage,
                                             success_probability)


@pytest.fixture(scope="module")
def brisbane():
    return FakeBrisbane()


def undirected_edges(backend) -> set[frozenset[int]]:
    return {frozenset(edge) for edge in backend.coupling_map.get_edges()}


@pytest.mark.parametrize("device", [FakeBrisbane, FakeTorino])
@pytest.mark.parametrize("num_qubits", [1, 2, 4, 7, 12])
def test_line_layouts_are_disjoint_paths_in_the_coupling_map(device, num_qubits):
    backend = device()
    lines = find_line_layouts(backend, num_qubits)
    edges = undirected_edges(backend)
    used = [q for line in lines for q in line]
    assert all(len(line) == num_qubits for line in lines)
    assert len(used) == len(set(used)), "lines must be disjoint"
    assert all(frozenset(pair) in edges for line in lines for pair in zip(line, line[1:])), "consecutive = coupled"
    # Greedy but not wasteful (measured: 70-100% of floor(N/n) for n <= 4; a search that strands qubits between
    # lines falls well below).
    assert len(lines) >= (0.7 * (backend.num_qubits // num_qubits) if num_qubits <= 4 else 5)
    assert find_line_layouts(backend, num_qubits) == lines, "deterministic"
    assert find_line_layouts(backend, num_qubits, count=3) == find_line_layouts(backend, num_qubits, count=3)
    assert len(find_line_layouts(backend, num_qubits, count=3)) == 3


def test_two_qubit_lines_reach_the_maximum_matching(brisbane):
    graph = rx.PyGraph()
    graph.add_nodes_from(range(brisbane.num_qubits))
    graph.add_edges_from_no_data([tuple(edge) for edge in undirected_edges(brisbane)])
    maximum = len(rx.max_weight_matching(graph, max_cardinality=True))
    assert len(find_line_layouts(brisbane, 2)) == maximum


def toy_backend(bad_qubits: set[int]) -> SimpleNamespace:
    """An 8-qubit ring whose couplings touching ``bad_qubits`` have a 20% error (others 0.1%)."""
    target = Target(num_qubits=8)
    ring = [(q, (q + 1) % 8) for q in range(8)]
    errors = {pair: InstructionProperties(error=0.2 if set(pair) & bad_qubits else 0.001) for pair in ring}
    target.add_instruction(CXGate(), errors)
    target.add_instruction(Measure(), {(q,): InstructionProperties(error=0.01) for q in range(8)})
    return SimpleNamespace(target=target, num_qubits=8, name="toy")


def test_lines_avoid_high_error_couplings():
    line = find_line_layouts(toy_backend({0, 1, 2}), 3, count=1)[0]
    assert set(line) <= {3, 4, 5, 6, 7}  # only couplings 3-4-5-6-7 are good
    line = find_line_layouts(toy_backend({4, 5, 6}), 3, count=1)[0]
    assert set(line) <= {7, 0, 1, 2, 3}


def test_simulator_without_coupling_map_gets_contiguous_blocks():
    from qiskit_aer import AerSimulator

    lines = find_line_layouts(AerSimulator(), 5)
    assert lines == [list(range(k * 5, k * 5 + 5)) for k in range(SIMULATOR_WIDTH_LIMIT // 5)]


def test_linear_ansatz_on_a_line_needs_no_swaps(brisbane):
    circuit = build_ansatz(AnsatzSpec(12, reps=3, entanglement="linear"))
    line = find_line_layouts(brisbane, 12, count=1)[0]
    isa = transpile_isa(circuit, brisbane, optimization_level=1, initial_layout=line)
    assert swap_count(isa) == 0
    assert two_qubit_gate_count(isa) == isa.count_ops()["ecr"] == 33  # 3 reps x 11 CX, one ECR each
    assert isa.layout.initial_index_layout()[:12] == line
    for instruction in isa.data:  # ISA: every instruction is supported by the device on its qubits
        qargs = tuple(isa.find_bit(q).index for q in instruction.qubits)
        assert brisbane.target.instruction_supported(instruction.operation.name, qargs)


def test_routing_swaps_are_counted(brisbane):
    circuit = build_ansatz(AnsatzSpec(6, reps=2, entanglement="linear"))
    scattered = [0, 4, 8, 12, 20, 30]  # no two of these are coupled
    isa = transpile_isa(circuit, brisbane, optimization_level=0, initial_layout=scattered)
    swaps = swap_count(isa)
    assert swaps > 0
    # Level 0 cancels nothing: each routing swap became three ECRs next to the ansatz's 10 CX.
    assert two_qubit_gate_count(isa) == 10 + 3 * swaps


def test_swap_count_of_a_circuit_not_from_transpile_isa_is_an_error():
    with pytest.raises(ValueError, match="not produced by transpile_isa"):
        swap_count(QuantumCircuit(2))


# -- noise-aware choice: mapomatic's score ---------------------------------------------------------------------------
def measured_ansatz(num_qubits, reps=2):
    circuit = build_ansatz(AnsatzSpec(num_qubits, reps=reps, entanglement="linear"))
    circuit.measure_all()
    return circuit


def test_success_estimate_is_the_product_over_the_isa_circuits_operations(brisbane):
    circuit = measured_ansatz(4)
    line = circuit_lines(circuit, brisbane, count=1)[0]
    isa = transpile_isa(circuit, brisbane, initial_layout=line)
    usage = LineUsage.of(isa, line)
    assert usage.two_qubit == (2, 2, 2) and usage.measured == (1, 1, 1, 1)  # 2 reps of the CX chain, one readout each
    assert success_probability(brisbane, line, usage) == pytest.approx(isa_success(isa, brisbane.target), rel=1e-12)
    assert 0.5 < success_probability(brisbane, line, usage) < 1.0


@pytest.mark.parametrize("damage", ["two_qubit", "one_qubit", "readout"])
def test_a_line_with_a_huge_error_is_not_chosen(brisbane, damage):
    circuit = measured_ansatz(4)
    best = circuit_lines(circuit, brisbane, count=1)[0]
    device = copy.deepcopy(brisbane)  # the same device with one error made huge on the best line
    target = device.target
    if damage == "two_qubit":
        pair = next(qargs for qargs in target["ecr"] if set(qargs) == {best[1], best[2]})
        target.update_instruction_properties("ecr", pair, InstructionProperties(error=0.5))
    elif damage == "one_qubit":
        target.update_instruction_properties("sx", (best[1],), InstructionProperties(error=0.2))
    else:
        target.update_instruction_properties("measure", (best[2],), InstructionProperties(error=0.4))
    chosen = circuit_lines(circuit, device, count=1)[0]
    damaged = {"two_qubit": {best[1], best[2]}, "one_qubit": {best[1]}, "readout": {best[2]}}[damage]
    assert not damaged <= set(chosen), (best, chosen)
    usage = LineUsage.of(transpile_isa(circuit, device, initial_layout=best), best)
    assert success_probability(device, chosen, usage) > success_probability(device, best, usage)
    assert brisbane.target["sx"][(best[1],)].error < 0.01, "the original device is untouched"


def test_lines_follow_the_circuits_usage_and_stay_deterministic(brisbane):
    circuit = measured_ansatz(5, reps=3)
    usage = circuit_usage(circuit, brisbane)
    assert usage.two_qubit == (3, 3, 3, 3)
    lines = find_line_layouts(brisbane, 5, usage=usage)
    assert lines == circuit_lines(circuit, brisbane) == find_line_layouts(brisbane, 5, usage=usage)
    assert len({q for line in lines for q in line}) == 5 * len(lines) >= 0.7 * (brisbane.num_qubits // 5)
