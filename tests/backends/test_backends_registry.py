"""The one table of backend names: names → families, devices to transpile for, validated specs, light imports."""

import pkgutil
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime.fake_provider import FakeBrisbane

import hqctf_qiskit
from hqctf_qiskit.backends import BackendSpec, UnknownBackendError, make_engine, target_backend
from hqctf_qiskit.backends.fake import fake_devices
from hqctf_qiskit.backends.registry import backend_choices, backend_family
from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz
from hqctf_qiskit.engines import SamplerEngine, ShotsRequiredError
from hqctf_qiskit.errors import BackendError

GPU_AER = "GPU" in AerSimulator().available_devices()
SRC = Path(hqctf_qiskit.__file__).parent


@pytest.fixture(scope="module")
def circuit():
    return build_ansatz(AnsatzSpec(2, reps=1))


def one_line(exc: Exception) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_names_and_prefixes_map_to_families():
    kinds = {name: backend_family(name).kind for name in
             ("torch", "aer_simulator", "aer_simulator_gpu", "fake_brisbane", "ibm_fez")}
    assert kinds == {"torch": "torch", "aer_simulator": "aer", "aer_simulator_gpu": "aer", "fake_brisbane": "fake",
                     "ibm_fez": "ibm"}
    assert backend_choices() == "torch, aer_simulator, aer_simulator_gpu, fake_<device>, ibm_<device>"
    for bad in ("nope", "fake_", "ibm_", "FAKE_brisbane"):
        with pytest.raises(UnknownBackendError, match="--backend: unknown backend"):
            backend_family(bad)


@pytest.mark.skipif(GPU_AER, reason="this Aer has a GPU device")
def test_aer_simulator_gpu_fails_fast_with_the_fix(circuit):
    with pytest.raises(BackendError) as info:
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
        ("aer_simulator", {"shots": -3}, "--shots", BackendError),
        ("aer_simulator", {"shots": True}, "--shots", BackendError),
        ("aer_simulator", {"gradient": "adjoint"}, "--gradient", BackendError),
        ("torch", {"gradient": "spsa"}, "--gradient", BackendError),
        ("fake_brisbane", {"shots": 10, "optimization_level": 4}, "--optimization-level", BackendError),
        ("aer_simulator", {"pack": 0}, "--pack", BackendError),
    ]
    for name, options, option, error in cases:
        with pytest.raises(error, match=option):
            make_engine(name, circuit, **options)
        with pytest.raises(error, match=option):
            BackendSpec(name, **options)


def test_spec_knows_its_kind_and_ignores_packing_on_torch():
    assert BackendSpec().kind == "torch" and not BackendSpec().is_hardware
    assert BackendSpec("torch", shots=64, pack=True, optimization_level=3).kind == "torch"
    assert BackendSpec("ibm_fez", shots=10).is_hardware  # validating a spec opens no IBM service


def test_target_backend_gives_the_device_to_transpile_for():
    for simulator in ("torch", "aer_simulator", "aer_simulator_gpu", None):
        assert target_backend(simulator) is None
    assert isinstance(target_backend("fake_brisbane"), FakeBrisbane)
    assert target_backend("fake_torino").name == "fake_torino"
    with pytest.raises(UnknownBackendError, match="fake_nosuch.*fake_brisbane"):
        target_backend("fake_nosuch")
    with pytest.raises(UnknownBackendError, match="--backend: unknown backend 'qpu9000'"):
        target_backend("qpu9000")


def _package_modules(package: str) -> list:
    root = import_module(package)
    return [import_module(f"{package}.{info.name}") for info in pkgutil.iter_modules(root.__path__)]


def test_only_backends_maps_names_to_devices():
    """circuits/ and hardware/ hold no resolver of their own, and only backends/ touches fake or IBM devices."""
    from hqctf_qiskit.backends import registry
    from hqctf_qiskit.hardware import cost

    resolvers = {"target_backend", "_fake_backend", "_ibm_backend", "fake_device", "ibm_device", "resolve_target"}
    for package in ("hqctf_qiskit.circuits", "hqctf_qiskit.hardware"):
        for module in _package_modules(package):
            own = {name for name, value in vars(module).items()
                   if callable(value) and getattr(value, "__module__", None) == module.__name__}
            assert not own & resolvers, (module.__name__, own & resolvers)
    assert cost.target_backend is registry.target_backend  # the report and the cost guard resolve here
    outside = [path.relative_to(SRC) for path in SRC.rglob("*.py") if path.parent.name != "backends"
               and any(word in path.read_text() for word in ("fake_provider", "QiskitRuntimeService", "Batch("))]
    assert outside == []


def test_importing_backends_and_engines_needs_neither_aer_nor_the_runtime():
    code = ("import sys, hqctf_qiskit.engines, hqctf_qiskit.circuits, hqctf_qiskit.backends; "
            "from hqctf_qiskit.backends import BackendSession, BackendSpec, target_backend; "
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('qiskit_aer', 'qiskit_ibm_runtime', "
            "'qiskit_machine_learning')]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spec_and_session_modules_load_no_qiskit():
    """A config can validate its backend options, and a run without QPG layers import the session, without qiskit."""
    code = ("import sys; from hqctf_qiskit.backends.spec import BackendSpec; "
            "import hqctf_qiskit.backends.session, hqctf_qiskit.engines.cost; "
            "BackendSpec('fake_brisbane', shots=10); "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'qiskit']")
    subprocess.run([sys.executable, "-c", code], check=True)
