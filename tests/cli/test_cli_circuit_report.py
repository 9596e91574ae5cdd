"""``hqctf circuit-report`` end to end: table, JSON schema, OpenQASM 3 and PNG files, options, one-line errors."""

from __future__ import annotations

import json

import pytest
from qiskit import qasm3
from qiskit.transpiler import generate_preset_pass_manager

from hqctf_qiskit.hardware.cost import model_layer_shapes
from hqctf_qiskit.cli.main import main
from hqctf_qiskit.config.schema import TrainConfig
from hqctf_qiskit.training.modeling import build_training_model

import helpers

# decoder.blocks.4 of Unet-resnet18: fan_in 288 and 144 → 3 and 2 qubits with chunks of 64
SMALL = ["--qpg-layers", "decoder.blocks.4.*", "--mapping", "chunked", "--chunk", "64"]
BRISBANE = ["--backend", "fake_brisbane", "--shots", "4096"]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    return helpers.run_cli(capsys, "circuit-report", *args)


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code not in (0, None)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def brisbane_json(tmp_path_factory):
    """One fake_brisbane report written as JSON, OpenQASM 3 and PNG (shared: drawing is the slow part)."""
    root = tmp_path_factory.mktemp("report")
    try:
        main(["circuit-report", *SMALL, *BRISBANE, "--pack", "--seed", "3", "--json", str(root / "report.json"),
              "--qasm", str(root / "qasm"), "--draw", str(root / "png")])
    except SystemExit as exc:
        assert exc.code in (0, None)
    return root


@pytest.mark.parametrize("mapping", ["affine", "qt", "chunked"])
def test_qubit_counts_equal_training(mapping):
    config = TrainConfig.from_flat({"mapping": mapping, "qpg_layers": "decoder"})
    _, trained = build_training_model(config)
    shapes = model_layer_shapes(config)
    assert [(s.name, s.channels, s.fan_in, s.qubits) for s in shapes] == [
        (layer["name"], layer["channels"], layer["fan_in"], layer["qubits"]) for layer in trained["layers"]
    ]


@pytest.mark.parametrize("pack, beside", [("--pack", "without packing"), ("--no-pack", "with packing")])
def test_table_on_fake_brisbane(capsys, pack, beside):
    code, out, _ = run_cli(capsys, *SMALL, *BRISBANE, pack)
    assert code == 0
    assert "fake_brisbane (127 qubits, two-qubit gate ecr)" in out
    for fragment in ("decoder.blocks.4.conv1.0", "decoder.blocks.4.conv2.0", "isa.depth", "swaps", "slots",
                     "shots/step", "totals: 2 layers, 32 channels", beside, "distinct circuits:"):
        assert fragment in out, fragment
    assert "WARNING" not in out


def test_json_schema_and_numbers_equal_qiskits_own(brisbane_json):
    from hqctf_qiskit.backends import target_backend
    from hqctf_qiskit.circuits import AnsatzSpec
    from hqctf_qiskit.hardware.report import sampled_circuit

    data = json.loads((brisbane_json / "report.json").read_text())
    assert set(data) == {"context", "settings", "mapping", "ansatz", "target", "layers", "circuits", "totals",
                         "warnings"}
    assert data["settings"] == {"backend": "fake_brisbane", "shots": 4096, "gradient": "param-shift", "pack": True,
                                "optimization_level": 1, "seed_transpiler": 3}
    assert data["target"]["two_qubit_basis"] == ["ecr"]
    layer = data["layers"][0]
    assert set(layer) == {"name", "kind", "channels", "fan_in", "qubits", "params_per_channel", "circuit", "slots",
                          "shots", "relative_error", "warning", "logical", "transpiled", "circuits_per_step",
                          "shots_per_step", "qpu_seconds", "lines", "success_probability"}
    assert set(layer["transpiled"]) == {"depth", "two_qubit", "two_qubit_depth", "two_qubit_gates", "swaps", "ops",
                                        "layout"}
    assert set(layer["circuits_per_step"]) == {"packed", "unpacked"}
    assert [(x["qubits"], x["params_per_channel"]) for x in data["layers"]] == [(3, 9), (2, 6)]
    assert layer["relative_error"] == pytest.approx((8 / 4096) ** 0.5)
    assert data["totals"]["shots_per_step"]["packed"] == data["totals"]["circuits_per_step"]["packed"]["total"] * 4096
    backend = target_backend("fake_brisbane")
    for entry in data["circuits"]:
        stats = entry["transpiled"]
        reference = generate_preset_pass_manager(
            optimization_level=1, backend=backend, initial_layout=stats["layout"], seed_transpiler=3
        ).run(sampled_circuit(AnsatzSpec(entry["qubits"], reps=2)))
        assert (stats["depth"], stats["two_qubit"], stats["swaps"]) == (reference.depth(),
                                                                        reference.count_ops()["ecr"], 0)


def test_qasm_files_parse_back(brisbane_json):
    data = json.loads((brisbane_json / "report.json").read_text())
    files = sorted((brisbane_json / "qasm").glob("*.qasm"))
    assert [f.stem for f in files] == sorted(entry["name"] for entry in data["circuits"])
    for entry in data["circuits"]:
        circuit = qasm3.loads((brisbane_json / "qasm" / f"{entry['name']}.qasm").read_text())
        assert circuit.num_parameters == entry["params"]
        assert circuit.count_ops()["ecr"] == entry["transpiled"]["two_qubit"]
        assert circuit.count_ops()["measure"] == entry["qubits"]


def test_draw_writes_pngs(brisbane_json):
    files = sorted((brisbane_json / "png").glob("*.png"))
    assert len(files) == 2
    for path in files:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


def test_json_to_stdout_is_pure_json_and_config_file_is_read(capsys, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("mapping: chunked\nchunk: 64\nqpg-layers: decoder.blocks.4.*\nreps: 1\n")
    code, out, err = run_cli(capsys, "--config", str(config), "--reps", "3", "--gradient", "spsa", "--json",
                             "--qasm", str(tmp_path / "qasm"))
    assert code == 0
    data = json.loads(out)
    assert "wrote 2 OpenQASM 3 file(s)" in err  # messages go to stderr while stdout carries the JSON
    logical = qasm3.loads((tmp_path / "qasm" / "qpg_ry_linear_n3_r3.qasm").read_text())
    assert logical.count_ops()["cx"] == data["circuits"][1]["logical"]["two_qubit"]
    assert data["target"] is None and data["ansatz"]["reps"] == 3 and data["context"]["chunk"] == 64
    first = data["layers"][0]
    assert first["params_per_channel"] == 4 * 3  # 3 qubits, 3 reps + final rotation
    assert first["circuits_per_step"]["unpacked"] == {"forward": 16, "backward": 32, "total": 48}


def test_shot_warning_in_table(capsys):
    code, out, _ = run_cli(capsys, "--qpg-layers", "decoder.blocks.4.conv2.0", "--mapping", "affine",
                           "--shots", "64")
    assert code == 0
    assert "WARNING: decoder.blocks.4.conv2.0: relative error 2.00 > 0.5" in out


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--backend", "fake_nosuch"], ["fake_nosuch", "no such fake device", "fake_brisbane"]),
        (["--backend", "quantum_thing"], ["quantum_thing", "fake_<device>"]),
        (["--shots", "0"], ["--shots"]),
        (["--mapping", "fourier"], ["--mapping", "fourier"]),
        (["--qpg-layers", "none"], ["--qpg-layers"]),
        (["--qpg-layers", "decodr"], ["decodr"]),
        (["--gradient", "adjoint"], ["--gradient"]),
    ],
)
def test_bad_options_are_one_line_errors(capsys, args, fragments):
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, *fragments)


def test_draw_without_the_drawers_dependency_is_a_one_line_error(capsys, monkeypatch, tmp_path):
    from qiskit.exceptions import MissingOptionalLibraryError

    from hqctf_qiskit.hardware.report import CircuitReport

    def missing(self, directory):
        raise MissingOptionalLibraryError(libname="pylatexenc", name="MatplotlibDrawer",
                                          pip_install="pip install pylatexenc")

    monkeypatch.setattr(CircuitReport, "write_drawings", missing)
    code, _, err = run_cli(capsys, *SMALL, "--draw", str(tmp_path / "png"))
    assert_one_line_error(code, err, "--draw", "pylatexenc")


def test_ibm_backend_without_account_suggests_fake(capsys, monkeypatch):
    import qiskit_ibm_runtime

    def no_account(*args, **kwargs):
        raise RuntimeError("no saved account")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", no_account)
    code, _, err = run_cli(capsys, *SMALL, "--backend", "ibm_kingston")
    assert_one_line_error(code, err, "ibm_kingston", "fake_kingston")
