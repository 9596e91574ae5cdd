"""The circuit report: hand-counted logical numbers, transpiled numbers equal to Qiskit's own, the cost model."""

from __future__ import annotations

import math

import pytest
from qiskit import transpile
from qiskit.transpiler import generate_preset_pass_manager

from hqctf_qiskit.backends import target_backend
from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz
from hqctf_qiskit.engines.cost import step_cost
from hqctf_qiskit.errors import BackendError
from hqctf_qiskit.hardware.report import (
    LayerShape,
    ReportSettings,
    build_circuit_report,
    relative_error,
    sampled_circuit,
    shot_warning,
)

TINY = [
    LayerShape("a.conv", "Conv2d", channels=16, fan_in=144, qubits=3),
    LayerShape("b.conv", "Conv2d", channels=8, fan_in=288, qubits=4),
    LayerShape("c.conv", "Conv2d", channels=4, fan_in=100, qubits=3),
]


@pytest.fixture(scope="module")
def brisbane():
    return target_backend("fake_brisbane")


# -- logical numbers ----------------------------------------------------------------------------------------------
def test_logical_report_builds_each_distinct_circuit_once():
    report = build_circuit_report(TINY, AnsatzSpec(reps=2), "chunked", ReportSettings(shots=1024))
    assert [c.qubits for c in report.circuits] == [3, 4]
    assert report.target is None and all(layer.transpiled is None for layer in report.layers)
    first = report.layers[0]
    assert (first.params_per_channel, first.logical.ops, first.slots) == (9, {"ry": 9, "cx": 4}, 1)
    assert first.packed == first.unpacked == step_cost(16, 9, "param-shift")
    totals = report.totals()
    assert totals["channels"] == 28
    assert totals["circuit_params"] == 16 * 9 + 8 * 12 + 4 * 9
    assert totals["circuits_per_step"]["packed"]["total"] == sum(c * (1 + 2 * p) for c, p in [(16, 9), (8, 12), (4, 9)])
    assert totals["shots_per_step"]["packed"] == totals["circuits_per_step"]["packed"]["total"] * 1024


# -- cost model and shot noise ------------------------------------------------------------------------------------
def test_relative_error_formula():
    assert relative_error(6, 4096) == pytest.approx(0.125)
    assert relative_error(12, 4096) == pytest.approx(1.0)
    assert relative_error(8, 1024) == pytest.approx(math.sqrt(256 / 1024))


@pytest.mark.parametrize(
    "mapping, qubits, shots, warns",
    [("affine", 12, 4096, True), ("qt", 11, 4096, True), ("affine", 10, 4096, False), ("affine", 8, 4096, False),
     ("chunked", 7, 4096, False), ("chunked", 8, 512, True), ("affine", 13, None, False)],
)
def test_shot_warning(mapping, qubits, shots, warns):
    warning = shot_warning(mapping, qubits, shots)
    assert (warning is not None) == warns
    if warns:
        assert f"{shots} shots" in warning and mapping in warning
        needed = int(warning.split(">= ")[1].split()[0])
        assert relative_error(qubits, needed) <= 0.5 < relative_error(qubits, needed - 1)


def test_report_collects_warnings_per_layer():
    report = build_circuit_report(TINY, AnsatzSpec(), "affine", ReportSettings(shots=16))
    assert report.layers[1].relative_error == pytest.approx(1.0)
    assert [w.split(":")[0] for w in report.warnings] == ["a.conv", "b.conv", "c.conv"]
    assert report.to_dict()["totals"]["warnings"] == 3
    assert "WARNING: b.conv" in report.format_table()


@pytest.mark.parametrize("bad, option", [(dict(shots=0), "--shots"), (dict(gradient="adjoint"), "--gradient"),
                                         (dict(optimization_level=4), "--optimization-level")])
def test_settings_are_validated_by_the_backends_rules(bad, option):
    with pytest.raises(BackendError, match=option):
        ReportSettings(**bad)
    ReportSettings(backend="fake_brisbane", gradient="spsa")  # the report may show a setting training refuses


# -- transpiled numbers -------------------------------------------------------------------------------------------
def _qiskit_reference(spec, backend, layout, level):
    """Qiskit's own transpile of the same measured circuit with the same settings, two ways."""
    circuit = sampled_circuit(spec)
    by_pm = generate_preset_pass_manager(optimization_level=level, backend=backend, initial_layout=layout,
                                         seed_transpiler=0).run(circuit)
    by_transpile = transpile(circuit, backend=backend, initial_layout=layout, optimization_level=level,
                             seed_transpiler=0)
    return by_pm, by_transpile


@pytest.mark.parametrize(
    "device, gate, entanglement, level",
    [("fake_brisbane", "ecr", "linear", 1), ("fake_brisbane", "ecr", "full", 1), ("fake_torino", "cz", "linear", 3),
     ("fake_brisbane", "ecr", "circular", 0)],
)
def test_transpiled_numbers_equal_qiskits_own(device, gate, entanglement, level):
    backend = target_backend(device)
    spec = AnsatzSpec(reps=2, entanglement=entanglement)
    settings = ReportSettings(backend=device, optimization_level=level)
    report = build_circuit_report(TINY[:2], spec, "chunked", settings, backend=backend)
    assert report.target["two_qubit_basis"] == [gate]
    for entry in report.circuits:
        stats = entry.transpiled
        for reference in _qiskit_reference(spec.with_qubits(entry.qubits), backend, stats.layout, level):
            assert stats.depth == reference.depth()
            assert stats.two_qubit == reference.count_ops().get(gate, 0)
            assert stats.ops == dict(reference.count_ops())


def test_linear_ansatz_on_a_line_needs_no_swaps(brisbane):
    report = build_circuit_report(TINY, AnsatzSpec(reps=3), "chunked", ReportSettings(backend="fake_brisbane"),
                                  backend=brisbane)
    for entry in report.circuits:
        assert entry.transpiled.swaps == 0
        assert len(entry.transpiled.layout) == entry.qubits
        assert entry.transpiled.two_qubit == entry.logical.two_qubit  # one ECR per CX, nothing routed


def test_swaps_account_for_the_extra_two_qubit_gates(brisbane):
    # heavy-hex has no triangle: all-to-all CX on 4 qubits must route; at level 0 nothing cancels, so each SWAP is 3
    settings = ReportSettings(backend="fake_brisbane", optimization_level=0)
    report = build_circuit_report(TINY[1:2], AnsatzSpec(reps=2, entanglement="full"), "chunked", settings,
                                  backend=brisbane)
    stats, logical = report.circuits[0].transpiled, report.circuits[0].logical
    assert stats.swaps > 0
    assert stats.two_qubit == logical.two_qubit + 3 * stats.swaps


@pytest.mark.parametrize("pack", [True, False])
def test_packing_uses_max_slots_and_both_costs_are_reported(brisbane, pack):
    from hqctf_qiskit.circuits.packing import max_slots
    from hqctf_qiskit.circuits.transpile import circuit_usage

    settings = ReportSettings(backend="fake_brisbane", shots=100, pack=pack)
    report = build_circuit_report(TINY, AnsatzSpec(), "chunked", settings, backend=brisbane)
    for layer in report.layers:
        usage = circuit_usage(sampled_circuit(AnsatzSpec(layer.qubits)), brisbane)  # the lines the engine searches
        assert layer.slots == max_slots(brisbane, layer.qubits, usage) > 1
        assert layer.packed == step_cost(layer.channels, layer.params_per_channel, "param-shift", layer.slots)
        assert layer.unpacked == step_cost(layer.channels, layer.params_per_channel, "param-shift", 1)
        assert layer.packed.total < layer.unpacked.total
        assert layer.planned == (layer.packed if pack else layer.unpacked)
    table = report.format_table()
    assert ("without packing" if pack else "with packing") in table


@pytest.mark.parametrize("gradient", ["param-shift", "spsa"])
def test_cost_model_equals_the_sampler_engines_own(brisbane, gradient):
    """The report's circuits per step and ISA numbers are what ``SamplerEngine`` itself runs for the same layer."""
    from qiskit.primitives import StatevectorSampler

    from hqctf_qiskit.engines.sampler import SamplerEngine

    spec = AnsatzSpec(2, reps=1)
    layer = LayerShape("tiny", "Conv2d", channels=40, fan_in=4, qubits=2)
    for pack in (True, False):
        settings = ReportSettings(backend="fake_brisbane", shots=64, gradient=gradient, pack=pack)
        row = build_circuit_report([layer], spec, "affine", settings, backend=brisbane).layers[0]
        engine = SamplerEngine(build_ansatz(spec), sampler=StatevectorSampler(), backend=brisbane, shots=64,
                               gradient=gradient, pack=pack)
        assert (row.planned.forward, row.planned.backward) == engine.circuits_per_step(layer.channels)
        assert (row.transpiled.depth, row.transpiled.two_qubit) == (engine.isa.depth(), engine.isa.count_ops()["ecr"])


def test_layer_wider_than_the_device_is_a_clear_error(brisbane):
    wide = [LayerShape("huge", "Conv2d", channels=2, fan_in=2**200, qubits=200)]
    with pytest.raises(ValueError, match="huge needs 200 qubits.*127"):
        build_circuit_report(wide, AnsatzSpec(), "affine", ReportSettings(backend="fake_brisbane"), backend=brisbane)


def test_too_small_device_with_chunked_suggests_a_chunk_that_fits():
    """Issue 11 item 9: with --mapping chunked already set, the fix is a larger --chunk (the smallest that fits every
    layer) or a wider device — not --mapping chunked again."""
    from hqctf_qiskit.qpg.mappings import ChunkedMapping

    manila = target_backend("fake_manila")  # 5 qubits
    fan_ins = {"small.conv": 288, "big.conv": 4608, "bigger.conv": 4800}
    layers = [LayerShape(name, "Conv2d", channels=4, fan_in=fan_in,
                         qubits=ChunkedMapping.num_qubits_for(fan_in, chunk=32)) for name, fan_in in fan_ins.items()]
    with pytest.raises(BackendError) as caught:
        build_circuit_report(layers, AnsatzSpec(), "chunked", ReportSettings(backend="fake_manila"), backend=manila,
                             context={"chunk": 32})
    message = str(caught.value)
    assert message == ("--backend fake_manila: layer big.conv needs 8 qubits but the device has 5 (and 1 more "
                       "layer(s)); use --chunk 150 or more (now 32): fewer qubits per channel, or a wider device")
    assert "--mapping chunked" not in message
    fits = [ChunkedMapping.num_qubits_for(f, chunk=150) <= 5 for f in fan_ins.values()]
    assert all(fits) and ChunkedMapping.num_qubits_for(4800, chunk=149) > 5, "150 is the smallest chunk that fits"
    with pytest.raises(BackendError, match="use --mapping chunked \\(fewer qubits\\) or a wider device"):
        build_circuit_report(layers, AnsatzSpec(), "affine", ReportSettings(backend="fake_manila"), backend=manila)
