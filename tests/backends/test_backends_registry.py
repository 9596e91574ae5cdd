import logging
import socket
import subprocess
import sys
import traceback

import pytest
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime.accounts import management
from qiskit_ibm_runtime.fake_provider import FakeBrisbane

from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz
from hqctf_qiskit.backends import BackendUnavailableError, UnknownBackendError, make_engine, target_backend
from hqctf_qiskit.engines import SamplerEngine, ShotsRequiredError
from hqctf_qiskit.backends.registry import fake_devices, not_offered_message, scrub_secrets

TOKEN = "hqctf-test-token-0123456789abcdefXYZ"
GPU_AER = "GPU" in AerSimulator().available_devices()


@pytest.fixture(scope="module")
def circuit():
    return build_ansatz(AnsatzSpec(2, reps=1))


@pytest.fixture
def no_ibm_account(monkeypatch, tmp_path):
    """No token in the environment and an empty account file: nothing may reach the network."""
    for name in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_CHANNEL", "QISKIT_IBM_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(management, "_DEFAULT_ACCOUNT_CONFIG_JSON_FILE", str(tmp_path / "qiskit-ibm.json"))


@pytest.fixture
def offline_token(no_ibm_account, monkeypatch):
    """A (fake) token in the environment and every HTTP(S) request sent to a closed local port."""
    with socket.socket() as probe:  # a port that was free a moment ago: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)


def one_line(exc: Exception) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


@pytest.mark.skipif(GPU_AER, reason="this Aer has a GPU device")
def test_aer_simulator_gpu_fails_fast_with_the_fix(circuit):
    with pytest.raises(BackendUnavailableError) as info:
        make_engine("aer_simulator_gpu", circuit)
    message = one_line(info.value)
    assert "--backend aer_simulator_gpu" in message and "qiskit-aer-gpu" in message and "CUDA 12" in message
    assert "hqctf-qiskit[gpu]" in message and "--backend torch --device cuda" in message


def test_every_named_backend_builds_its_engine(circuit):
    assert isinstance(make_engine("aer_simulator", circuit), SamplerEngine)
    engine = make_engine("aer_simulator", circuit, shots=100, gradient="spsa", pack=True, seed=1)
    assert engine.shots == 100 and engine.gradient == "spsa" and engine.slots > 1
    engine = make_engine("fake_brisbane", circuit, shots=100)
    assert engine.backend.name == "fake_brisbane" and engine.isa.num_qubits == 127


def test_fake_devices_are_discovered_and_unknown_ones_listed(circuit):
    assert {"fake_brisbane", "fake_torino", "fake_fez", "fake_kingston", "fake_almaden"} <= set(fake_devices())
    with pytest.raises(UnknownBackendError) as info:
        make_engine("fake_atlantis", circuit, shots=10)
    message = one_line(info.value)
    assert "fake_atlantis" in message and "fake_brisbane" in message and "fake_fez" in message


def test_option_errors_name_the_option(circuit):
    cases = [
        ("nope", {}, "--backend", UnknownBackendError),
        ("fake_brisbane", {}, "--shots", ShotsRequiredError),  # sampling-only backends need shots
        ("aer_simulator", {"shots": -3}, "--shots", ValueError),
        ("aer_simulator", {"gradient": "adjoint"}, "--gradient", ValueError),
        ("torch", {"gradient": "spsa"}, "--gradient", ValueError),
    ]
    for name, options, option, error in cases:
        with pytest.raises(error, match=option):
            make_engine(name, circuit, **options)


def test_ibm_without_account_fails_before_the_network(circuit, no_ibm_account):
    with pytest.raises(BackendUnavailableError) as info:
        make_engine("ibm_fez", circuit, shots=100)
    message = one_line(info.value)
    assert "no IBM Quantum account" in message and "QISKIT_IBM_TOKEN" in message and "--backend fake_fez" in message


def test_ibm_brisbane_is_retired(circuit, no_ibm_account):
    with pytest.raises(BackendUnavailableError) as info:
        make_engine("ibm_brisbane", circuit, shots=100)
    message = one_line(info.value)
    assert "retired" in message and "Nov 2025" in message and "fake_brisbane" in message
    assert all(device in message for device in ("ibm_fez", "ibm_marrakesh", "ibm_kingston", "ibm_pittsburgh"))


def test_device_not_offered_lists_what_is():
    message = not_offered_message("ibm_torino", ["ibm_kingston", "ibm_fez"])
    assert "ibm_fez, ibm_kingston" in message and "--backend fake_torino" in message


def test_token_never_appears_in_errors_or_logs(circuit, offline_token, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BackendUnavailableError) as info:
        make_engine("ibm_fez", circuit, shots=100)
    exc = info.value
    assert "cannot reach IBM Quantum" in one_line(exc)
    assert exc.__cause__ is None and exc.__suppress_context__, "no chained exception may carry the token"
    captured = capsys.readouterr()
    for text in (str(exc), repr(exc), "".join(traceback.format_exception(exc)), caplog.text, captured.out,
                 captured.err):
        assert TOKEN not in text


def test_scrubbing_removes_the_token_and_token_shaped_strings(monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "short-secret")
    text = scrub_secrets(f"bad token short-secret for key {TOKEN}\nsecond line")
    assert "short-secret" not in text and TOKEN not in text and "\n" not in text


def test_target_backend_gives_the_device_to_transpile_for():
    assert target_backend("torch") is None and target_backend("aer_simulator") is None
    assert isinstance(target_backend("fake_brisbane"), FakeBrisbane)
    with pytest.raises(UnknownBackendError, match="--backend"):
        target_backend("qpu9000")


def test_importing_engines_needs_neither_aer_nor_the_runtime():
    code = ("import sys, hqctf_qiskit.engines, hqctf_qiskit.circuits; "
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('qiskit_aer', 'qiskit_ibm_runtime', "
            "'qiskit_machine_learning')]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
