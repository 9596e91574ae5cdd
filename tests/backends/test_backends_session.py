"""A run's backend session: one engine per distinct circuit, one device and one sampler (IBM Batch) per run,
and ``close()`` closing every engine and the Batch."""

import subprocess
import sys

import pytest
import torch
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from hqctf_qiskit.backends import BackendSession, BackendSpec, make_engine
from hqctf_qiskit.backends import fake, ibm
from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz
from hqctf_qiskit.engines import SamplerEngine, ShotsStatevectorEngine, StatevectorEngine


class RecordedBatch:
    """Stands in for IBM's ``Batch`` (the cloud is unreachable here): a real object that records ``close()``."""

    def __init__(self) -> None:
        self.closes = 0

    def close(self) -> None:
        self.closes += 1


class LocalBatches:
    """Opens the fake device's local sampler as IBM's family would open its Batch: one per call, recorded."""

    def __init__(self) -> None:
        self.batches: list[RecordedBatch] = []
        self.open_local = fake.open_sampler

    def __call__(self, spec: BackendSpec, device):
        backend = self.open_local(spec, device)
        batch = RecordedBatch()
        self.batches.append(batch)
        backend.close = batch.close
        return backend


def circuit(n: int, reps: int = 1):
    return build_ansatz(AnsatzSpec(n, reps=reps))  # a new, equal object on every call


def test_equal_circuits_share_one_engine_and_close_closes_them():
    with BackendSession(BackendSpec("aer_simulator", shots=100, seed=3)) as session:
        two, again, three = session.engine(circuit(2)), session.engine(circuit(2)), session.engine(circuit(3))
        assert two is again and two is not three and isinstance(two, SamplerEngine)
        assert session.engine(circuit(2, reps=2)) is not two  # another ansatz is another circuit
        assert two.sampler.sampler is three.sampler.sampler, "every engine runs on the session's one sampler"
        assert len(session.engines) == 3 and not any(engine.closed for engine in session.engines)
        engines = session.engines
    assert session.closed and all(engine.closed for engine in engines)
    with pytest.raises(RuntimeError, match="closed"):
        session.engine(circuit(2))
    session.close()  # a second close does nothing


def test_engine_options_are_part_of_the_key():
    session = BackendSession(BackendSpec())
    single, double = session.engine(circuit(2)), session.engine(circuit(2), dtype=torch.float64)
    assert single is not double and double.dtype == torch.float64 and session.engine(circuit(2)) is single
    assert isinstance(single, StatevectorEngine)


def test_one_device_and_one_batch_per_run_closed_at_the_end(monkeypatch):
    """ibm_<device>: the device is looked up once (one runtime service) and one Batch serves every qubit count."""
    lookups: list[str] = []

    def device(name: str):
        lookups.append(name)
        return FakeManilaV2()  # a small device keeps the local noisy simulation fast

    monkeypatch.setattr(ibm, "ibm_device", device)  # the family's own lookup, without IBM's cloud
    opener = LocalBatches()
    session = BackendSession(BackendSpec("ibm_fez", shots=64, seed=1), open_sampler=opener)
    engines = [session.engine(circuit(n)) for n in (2, 3, 2)]
    assert session.target is engines[0].backend and engines[0].backend.name == "fake_manila"
    probabilities = engines[1].probabilities(torch.zeros(3, engines[1].num_parameters, dtype=torch.float64))
    torch.testing.assert_close(probabilities.sum(1), torch.ones(3, dtype=torch.float64))
    assert lookups == ["ibm_fez"] and len(opener.batches) == 1 and len(session.engines) == 2
    session.close()
    assert opener.batches[0].closes == 1 and all(engine.closed for engine in engines)
    session.close()
    assert opener.batches[0].closes == 1


def test_a_session_that_never_ran_opens_nothing(monkeypatch):
    opener = LocalBatches()
    session = BackendSession(BackendSpec("fake_brisbane", shots=64), open_sampler=opener)
    assert session.target.name == "fake_brisbane"  # the cost guard reads the device; no job is possible yet
    session.close()
    assert opener.batches == []


def test_closing_a_standalone_engine_closes_its_own_batch(monkeypatch):
    opener = LocalBatches()
    monkeypatch.setattr(fake, "open_sampler", opener)
    engine = make_engine("fake_brisbane", circuit(2), shots=32)
    engine.close()
    assert engine.closed and opener.batches[0].closes == 1


def test_torch_session_builds_torch_engines_without_aer_or_the_runtime():
    code = ("import sys, torch; from hqctf_qiskit.backends import BackendSession, BackendSpec; "
            "from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz; "
            "s = BackendSession(BackendSpec('torch', shots=16, seed=2)); "
            "e = s.engine(build_ansatz(AnsatzSpec(2, reps=1))); e.probabilities(torch.zeros(1, 4)); s.close(); "
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('qiskit_aer', 'qiskit_ibm_runtime', "
            "'qiskit_machine_learning')]; assert not heavy, heavy; assert type(e).__name__ == 'ShotsStatevectorEngine'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_torch_session_with_shots_is_seeded_like_a_standalone_engine():
    theta = torch.rand(3, 4, generator=torch.Generator().manual_seed(0))
    with BackendSession(BackendSpec("torch", shots=64, seed=5)) as session:
        engine = session.engine(circuit(2))
        assert isinstance(engine, ShotsStatevectorEngine)
        torch.testing.assert_close(engine.probabilities(theta),
                                   make_engine("torch", circuit(2), shots=64, seed=5).probabilities(theta))
