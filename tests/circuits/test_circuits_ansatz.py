import pytest
from qiskit.circuit.library import real_amplitudes
from qiskit.quantum_info import Operator

from hqctf_qiskit.circuits import ENTANGLEMENTS, AnsatzSpec, build_ansatz


@pytest.mark.parametrize("entanglement", ENTANGLEMENTS)
@pytest.mark.parametrize("num_qubits", [1, 2, 3, 4])
def test_ry_ansatz_equals_qiskit_real_amplitudes(entanglement, num_qubits):
    spec = AnsatzSpec(num_qubits, reps=2, entanglement=entanglement)
    ours = build_ansatz(spec)
    # "none" (the product-state control) is Qiskit's ansatz with an empty list of entangling pairs
    reference = real_amplitudes(num_qubits, reps=2, entanglement=[] if entanglement == "none" else entanglement)
    values = [0.1 * (i + 1) for i in range(ours.num_parameters)]
    assert ours.num_parameters == reference.num_parameters
    assert Operator(ours.assign_parameters(values)).equiv(Operator(reference.assign_parameters(values)))


def test_parameter_order_is_application_order():
    qc = build_ansatz(AnsatzSpec(3, reps=1, rotation="ry_rz"))
    gate_params = [inst.operation.params[0] for inst in qc.data if inst.operation.name in ("ry", "rz")]
    assert gate_params == list(qc.parameters)
    assert [inst.operation.name for inst in qc.data[:2]] == ["ry", "rz"]


@pytest.mark.parametrize(
    "spec, expected",
    [
        (AnsatzSpec(5, reps=3), 20),
        (AnsatzSpec(5, reps=3, final_rotation=False), 15),
        (AnsatzSpec(4, reps=2, rotation="ry_rz"), 24),
        (AnsatzSpec(6, reps=0), 6),
    ],
)
def test_parameter_count(spec, expected):
    assert spec.num_parameters() == expected
    assert build_ansatz(spec).num_parameters == expected


def test_entanglement_gate_counts():
    n = 5
    counts = {e: build_ansatz(AnsatzSpec(n, reps=1, entanglement=e)).count_ops().get("cx", 0) for e in ENTANGLEMENTS}
    assert counts == {"linear": 4, "reverse_linear": 4, "circular": 5, "full": 10, "none": 0}


def test_spec_round_trip_and_template():
    spec = AnsatzSpec(reps=3, entanglement="circular")
    assert AnsatzSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="template"):
        build_ansatz(spec)
    assert build_ansatz(spec.with_qubits(3)).num_qubits == 3


@pytest.mark.parametrize("kwargs", [{"rotation": "rx"}, {"entanglement": "star"}, {"reps": -1}, {"num_qubits": 0}])
def test_invalid_spec_is_rejected(kwargs):
    with pytest.raises(ValueError):
        AnsatzSpec(**kwargs)
