"""IBM Quantum: account checks before any network call, retired and unoffered devices, no token in any output."""

import logging
import socket
import traceback

import pytest
from qiskit_ibm_runtime.accounts import management

from hqctf_qiskit.backends import BackendUnavailableError, make_engine, target_backend
from hqctf_qiskit.backends.ibm import not_offered_message, scrub_secrets
from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz

TOKEN = "hqctf-test-token-0123456789abcdefXYZ"


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


def test_scrubbing_removes_the_token_settings_and_token_shaped_strings(monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "short-secret")
    text = scrub_secrets(f"bad token short-secret for key {TOKEN}, token=abc123 apikey: xyz\nsecond line")
    assert "short-secret" not in text and TOKEN not in text and "\n" not in text
    assert "abc123" not in text and "xyz" not in text and "token=***" in text


def test_failing_service_suggests_the_fake_device_and_hides_secrets(monkeypatch, no_ibm_account):
    import qiskit_ibm_runtime

    class NoService:
        """A service that cannot start, with a secret in its message (as a misconfigured account can)."""

        def __init__(self, *args, **kwargs):
            raise RuntimeError("Unable to find account; token=secret-token-123")

        @staticmethod
        def saved_accounts():
            return {"default": {}}

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", NoService)
    with pytest.raises(BackendUnavailableError) as info:
        target_backend("ibm_kingston")
    message = one_line(info.value)
    assert "--backend fake_kingston" in message and "secret-token" not in message
