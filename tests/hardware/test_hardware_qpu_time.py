"""Estimated QPU seconds: IBM's usage formula on hand-checked numbers, in the circuit report, its JSON and the guard."""

from __future__ import annotations

import json
from collections import defaultdict
from types import SimpleNamespace

import pytest
from qiskit import QuantumCircuit

from hqctf_qiskit.backends import target_backend
from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.hardware.qpu_time import (
    DEFAULT_REP_DELAY_S,
    JOB_OVERHEAD_S,
    circuit_seconds,
    rep_delay_seconds,
)
from hqctf_qiskit.hardware.report import LayerShape, ReportSettings, build_circuit_report

from helpers import run_cli

LAYER = LayerShape("a.conv", "Conv2d", channels=16, fan_in=144, qubits=3)
SMALL = ["--qpg-layers", "decoder.blocks.4.*", "--mapping", "chunked", "--chunk", "64", "--reps", "2"]


@pytest.fixture(scope="module")
def brisbane():
    return target_backend("fake_brisbane")


def report_for(device, shots, pack=False, layers=(LAYER,)):
    settings = ReportSettings(backend="fake_brisbane", shots=shots, pack=pack)
    return build_circuit_report(list(layers), AnsatzSpec(reps=2), "chunked", settings=settings, backend=device)


def critical_path(circuit: QuantumCircuit, target) -> float:
    """Longest path through the circuit with every instruction lasting its target duration (barriers align)."""
    free_at: dict[int, float] = defaultdict(float)
    for instruction in circuit.data:
        qubits = [circuit.find_bit(q).index for q in instruction.qubits]
        start = max(free_at[q] for q in qubits)
        name = instruction.operation.name
        duration = 0.0 if name == "barrier" else (target[name][tuple(qubits)].duration or 0.0)
        for q in qubits:
            free_at[q] = start + duration
    return max(free_at.values())


def test_duration_is_the_critical_path_of_the_targets_durations(brisbane):
    target = brisbane.target
    circuit = QuantumCircuit(2, 2)  # ISA on physical qubits 0 and 1 (ecr runs 1 -> 0 on this device)
    circuit.sx(0)
    circuit.rz(0.3, 0)
    circuit.x(1)
    circuit.ecr(1, 0)
    circuit.sx(1)
    circuit.measure([0, 1], [0, 1])

    def d(name, *qubits):
        return target[name][qubits].duration

    by_hand = (max(d("sx", 0) + d("rz", 0), d("x", 1)) + d("ecr", 1, 0)
               + max(d("measure", 0), d("sx", 1) + d("measure", 1)))
    assert d("ecr", 1, 0) > 0 and d("measure", 0) > 0
    assert circuit_seconds(circuit, target) == pytest.approx(by_hand, rel=1e-12)
    # the report's transpiled layer circuit: the same longest path through every instruction
    entry = report_for(brisbane, 1000).circuits[0]
    assert entry.timing.circuit_s == pytest.approx(critical_path(entry.circuit, target), rel=1e-12)


def test_layer_seconds_follow_the_usage_formula(brisbane):
    report = report_for(brisbane, 1000)
    layer, entry = report.layers[0], report.circuits[0]
    rep_delay = brisbane.configuration().default_rep_delay
    per_execution = rep_delay + critical_path(entry.circuit, brisbane.target)
    params = 3 * 3  # ry, linear, reps 2: (reps + 1) * n
    trial = 1 * JOB_OVERHEAD_S + 16 * 1000 * per_execution  # one forward job: every channel's circuit once
    step = 2 * JOB_OVERHEAD_S + (16 + 16 * 2 * params) * 1000 * per_execution  # + param-shift backward job
    assert rep_delay == 250e-6
    assert layer.qpu_seconds(layer.unpacked) == pytest.approx({"trial": trial, "per_step": step}, rel=1e-12)


def test_seconds_scale_linearly_with_shots_beyond_the_job_overhead(brisbane):
    one, two = (report_for(brisbane, shots).totals()["qpu_seconds"]["unpacked"] for shots in (1000, 2000))
    overhead = {"trial": 1 * JOB_OVERHEAD_S, "per_step": 2 * JOB_OVERHEAD_S}
    for key in ("trial", "per_step"):
        assert two[key] - overhead[key] == pytest.approx(2 * (one[key] - overhead[key]), rel=1e-12)


def test_packing_saves_the_executions_it_removes_and_keeps_the_jobs(brisbane):
    report = report_for(brisbane, 4096, pack=True)
    layer = report.layers[0]
    packed, unpacked = layer.qpu_seconds(layer.packed), layer.qpu_seconds(layer.unpacked)
    per_execution = layer.timing.execution_s
    assert layer.slots > 1 and packed["per_step"] < unpacked["per_step"] and packed["trial"] < unpacked["trial"]
    saved = (layer.unpacked.total - layer.packed.total) * 4096 * per_execution
    assert unpacked["per_step"] - packed["per_step"] == pytest.approx(saved, rel=1e-12)
    assert packed["per_step"] - layer.packed.total * 4096 * per_execution == pytest.approx(2 * JOB_OVERHEAD_S)


def test_no_estimate_without_shots_or_without_a_device(brisbane):
    assert report_for(brisbane, None).totals()["qpu_seconds"] == {"packed": None, "unpacked": None}
    logical = build_circuit_report([LAYER], AnsatzSpec(reps=2), "chunked", ReportSettings(shots=1000))
    assert logical.totals()["qpu_seconds"] == {"packed": None, "unpacked": None}
    assert "QPU" not in logical.format_table()


def test_rep_delay_is_the_devices_own_else_ibms_default():
    assert rep_delay_seconds(SimpleNamespace(default_rep_delay=1e-4)) == 1e-4
    assert rep_delay_seconds(SimpleNamespace(configuration=lambda: SimpleNamespace(default_rep_delay=3e-4))) == 3e-4
    assert rep_delay_seconds(SimpleNamespace(name="bare")) == DEFAULT_REP_DELAY_S


def test_circuit_report_json_and_table_carry_qpu_seconds(capsys, brisbane):
    code, out, _ = run_cli(capsys, "circuit-report", "--backend", "fake_brisbane", "--shots", "4096", *SMALL,
                           "--json", "-")
    assert code == 0
    data = json.loads(out)
    totals = data["totals"]["qpu_seconds"]
    assert all(totals[kind][key] > 0 for kind in ("packed", "unpacked") for key in ("trial", "per_step"))
    for kind in ("packed", "unpacked"):
        assert totals[kind]["per_step"] == pytest.approx(
            sum(layer["qpu_seconds"][kind]["per_step"] for layer in data["layers"]))
    assert data["circuits"][0]["qpu_timing"]["rep_delay_s"] == 250e-6
    code, out, _ = run_cli(capsys, "circuit-report", "--backend", "fake_brisbane", "--shots", "4096", *SMALL)
    assert code == 0 and "qpu.s/step" in out and "estimated QPU time: hardware trial" in out
    assert "estimate-job-run-time" in out
