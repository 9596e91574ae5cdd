"""The circuit report's qubit lines: the engine's choice, with mapomatic's success estimate of each."""

from __future__ import annotations

import pytest
from qiskit_aer.primitives import SamplerV2 as AerSampler

from helpers import isa_success

from hqctf_qiskit.backends import target_backend
from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.engines import SamplerEngine
from hqctf_qiskit.hardware.report import LayerShape, ReportSettings, build_circuit_report, sampled_circuit

LAYERS = [LayerShape("a.conv", "Conv2d", channels=8, fan_in=144, qubits=3),
          LayerShape("b.conv", "Conv2d", channels=4, fan_in=288, qubits=4)]


@pytest.fixture(scope="module")
def brisbane():
    return target_backend("fake_brisbane")


def test_report_shows_the_engines_line_and_its_success_estimate(brisbane):
    report = build_circuit_report(LAYERS, AnsatzSpec(reps=2), "chunked", ReportSettings("fake_brisbane", shots=4096),
                                  backend=brisbane)
    data = report.to_dict()
    for layer in data["layers"]:
        entry = next(e for e in report.circuits if e.qubits == layer["qubits"])
        assert len(layer["lines"]) == 1 and layer["lines"][0] == entry.transpiled.layout
        assert layer["success_probability"][0] == pytest.approx(isa_success(entry.circuit, brisbane.target), rel=1e-12)
        # The same line the sampler engine puts this circuit on.
        engine = SamplerEngine(sampled_circuit(AnsatzSpec(layer["qubits"], reps=2)), AerSampler(), backend=brisbane,
                               shots=16)
        assert engine.layout == layer["lines"][0]
    table = report.format_table()
    assert "success" in table.splitlines()[4] and "qubit line(s) and estimated success" in table


def test_packed_report_lists_one_line_per_slot(brisbane):
    report = build_circuit_report(LAYERS[:1], AnsatzSpec(reps=2), "chunked",
                                  ReportSettings("fake_brisbane", shots=4096, pack=True), backend=brisbane)
    layer = report.to_dict()["layers"][0]
    assert len(layer["lines"]) == layer["slots"] == len(layer["success_probability"]) > 10
    used = [q for line in layer["lines"] for q in line]
    assert len(used) == len(set(used))
    assert all(0.0 < p <= 1.0 for p in layer["success_probability"])
