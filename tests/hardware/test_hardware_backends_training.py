"""Sampler backends in the main job: training on Aer/fake devices, the hardware cost guard, --weights-from."""

from __future__ import annotations

import json

import pytest

from hqctf_qiskit.hardware import cost as circuit_cost
from hqctf_qiskit.config.schema import TrainConfig

from helpers import cli_exit_code

pytestmark = pytest.mark.slow

# a tiny QPG config whose circuits stay at n <= 4: two 16-channel convs of the last decoder block, chunked mapping
SMALL_QPG = ["--qpg-layers", "decoder.blocks.4.*", "--mapping", "chunked", "--chunk", "64", "--patch-size", "32",
             "--batch-size", "2", "--reps", "1", "--device", "cpu", "--epochs", "1"]


@pytest.mark.parametrize("backend", ["aer_simulator", "fake_brisbane"])
def test_train_on_a_sampler_backend_with_shots(tmp_path, tiny_phantom, backend):
    out = tmp_path / backend
    code = cli_exit_code("train", "--data", str(tiny_phantom), "--out", str(out), "--backend", backend,
                         "--shots", "4096", "--max-steps", "1", *SMALL_QPG)  # one step: fake_brisbane's jobs ~3 s
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 1
    report = json.loads((out / "qpg_report.json").read_text())
    assert {layer["qubits"] for layer in report["layers"]} == {2, 3}


def test_cost_guard_requires_yes_before_any_job(tmp_path, tiny_phantom, monkeypatch, capsys):
    # No IBM account here: the IBM family's device lookup gives the fake device, and opening a Batch fails the test.
    from qiskit_ibm_runtime.fake_provider import FakeFez

    from hqctf_qiskit.backends import ibm

    lookups = []
    monkeypatch.setattr(ibm, "ibm_device", lambda name: lookups.append(name) or FakeFez())
    monkeypatch.setattr(ibm, "open_sampler", lambda spec, device: pytest.fail("a Batch was opened"))
    out = tmp_path / "hw"
    code = cli_exit_code("train", "--data", str(tiny_phantom), "--out", str(out), "--backend", "ibm_fez",
                         "--shots", "4096", *SMALL_QPG)
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and err[0].startswith("error: --yes: this run sends")
    assert "QPU seconds, estimated" in err[0]
    assert lookups == ["ibm_fez"], "the guard uses the run's session: one device lookup, one service"
    assert not out.exists(), "nothing may be left behind when the guard stops a run"


def test_training_closes_its_backend_session(tmp_path, tiny_phantom):
    from hqctf_qiskit.training.loop import Trainer

    config = TrainConfig.from_flat({"data": str(tiny_phantom), "backend": "aer_simulator", "shots": 256,
                                    "max_steps": 1, "qpg_layers": "decoder.blocks.4.*", "mapping": "chunked",
                                    "chunk": 64, "patch_size": 32, "batch_size": 2, "reps": 1, "device": "cpu",
                                    "epochs": 1})
    trainer = Trainer(config, tmp_path / "run")
    trainer.run()
    engines = trainer.session.engines
    assert [engine.num_qubits for engine in engines] == [3, 2], "one engine per distinct circuit"
    assert trainer.session.closed and all(engine.closed for engine in engines)


def test_run_cost_counts_jobs_circuits_and_shots():
    config = TrainConfig.from_flat({"backend": "fake_brisbane", "shots": 1000, "qpg_layers": "decoder.blocks.4.*",
                                    "mapping": "chunked", "chunk": 64, "reps": 1})
    cost = circuit_cost.run_cost(config, steps=10)
    # two layers of 16 channels, n = 3 and 2 qubits, P = 2n per channel: forward 16, param-shift 2·P·16 each
    shapes = circuit_cost.model_layer_shapes(config)
    expected = sum(16 + 2 * (2 * s.qubits) * 16 for s in shapes)
    assert {k: cost["per_step"][k] for k in ("circuits", "shots", "jobs")} == {
        "circuits": expected, "shots": expected * 1000, "jobs": 4}
    assert cost["run"]["qpu_seconds"] == pytest.approx(10 * cost["per_step"]["qpu_seconds"])
    assert cost["run"]["shots"] == 10 * expected * 1000
    assert circuit_cost.needs_confirmation(cost)


def test_weights_from_a_fake_device_reports_both_metric_sets(tmp_path, tiny_phantom):
    run = tmp_path / "run"
    assert cli_exit_code("train", "--data", str(tiny_phantom), "--out", str(run), "--max-steps", "2", *SMALL_QPG) == 0
    code = cli_exit_code("evaluate", str(run), "--split", "val", "--weights-from", "fake_brisbane", "--shots", "4096")
    assert code == 0
    results = run / "eval" / "val-best-fake_brisbane-4096shots"  # one folder per (split, checkpoint, weights)
    summary = json.loads((results / "summary.json").read_text())
    assert summary["weights_from"] == "fake_brisbane" and summary["shots"] == 4096
    assert set(summary["sampled_mean"]) == set(summary["mean"])
    layers = summary["layers"]
    assert len(layers) == 2 and all(0 < layer["weight_relative_error"] < 1 for layer in layers)
    assert (results / "exact" / "per_case.csv").is_file()
    assert (results / "fake_brisbane_4096shots" / "per_case.csv").is_file()


def test_weights_from_exact_aer_equals_the_exact_model(tmp_path, tiny_phantom):
    run = tmp_path / "run"
    assert cli_exit_code("train", "--data", str(tiny_phantom), "--out", str(run), "--max-steps", "1", *SMALL_QPG) == 0
    assert cli_exit_code("evaluate", str(run), "--split", "val", "--weights-from", "aer_simulator") == 0
    summary = json.loads((run / "eval" / "val-best-aer_simulator-exact" / "summary.json").read_text())
    assert all(layer["weight_relative_error"] < 1e-5 for layer in summary["layers"])
    assert summary["sampled_mean"] == summary["mean"]
