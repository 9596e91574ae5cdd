"""Execution backends by name: what runs the circuits (a sampler) and what they are compiled for (a target).

- ``torch``: the exact torch engine; ``shots=S`` samples S shots per channel forward, exact gradient backward.
- ``aer_simulator`` / ``aer_simulator_gpu``: Aer on CPU / NVIDIA GPU; exact (``save_probabilities``) without
  shots; with shots the forward runs on Aer's SamplerV2 and the gradient's shots are drawn from Aer's exact
  probabilities (``SamplerEngine(fast_sampling=True)``; packed runs use the sampler throughout). GPU needs the
  ``qiskit-aer-gpu`` package, checked up front.
- ``fake_<device>``: a ``qiskit_ibm_runtime.fake_provider`` device (its coupling map, basis and noise model) in the
  runtime's local testing mode, through ``qiskit_ibm_runtime.executor_sampler.Sampler`` (``SamplerV2`` is
  deprecated since 0.50) with ``AerSimulator.from_backend(device)`` as mode (about 2x faster than the fake device
  itself, which rebuilds its noise model on every call).
- ``ibm_<device>``: IBM Quantum through ``QiskitRuntimeService`` (saved account, or QISKIT_IBM_TOKEN /
  QISKIT_IBM_INSTANCE), the executor sampler in Batch mode, ISA circuits.

qiskit_aer and qiskit_ibm_runtime are imported inside the builders only: importing ``hqctf_qiskit.engines`` (and
running an exported model) needs neither. Errors are ``ValueError`` subclasses with one-line messages naming the
option to change. The IBM token is never read into a message, log line or repr here; messages quoting a runtime
exception are scrubbed of any token first and drop the exception chain.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qiskit.circuit import QuantumCircuit

from ..engines.base import ProbabilityEngine
from ..engines.gradients import GRADIENTS
from ..engines.sampler import SamplerEngine, ShotsRequiredError
from ..engines.shots import ShotsStatevectorEngine
from ..engines.statevector import StatevectorEngine

log = logging.getLogger(__name__)

EXACT_BACKENDS = ("torch", "aer_simulator", "aer_simulator_gpu")
LIVE_IBM_DEVICES = ("ibm_fez", "ibm_marrakesh", "ibm_kingston", "ibm_pittsburgh")
RETIRED_IBM_DEVICES = {"ibm_brisbane": "Nov 2025"}
FAKE_SIMULATION_WIDTH = 8
"""Widest packed circuit a fake device simulates locally. Aer simulates small noisy circuits as density matrices
(4**width): a 4-qubit circuit packed 2x (8 qubits) costs ~3 s a call, 3x (12 qubits) ~75 s. Packing pays off on
hardware; on a fake device it is only exercised."""
GPU_OPTIONS = {"device": "GPU", "method": "statevector"}
GPU_HELP = (
    "--backend aer_simulator_gpu needs the qiskit-aer-gpu package (CUDA 12; it replaces qiskit-aer: "
    "pip uninstall qiskit-aer && pip install 'hqctf-qiskit[gpu]') and an NVIDIA GPU, but this Aer offers only "
    "{devices}; to train on a GPU use --backend torch --device cuda"
)


from ..errors import BackendError  # noqa: E402


class UnknownBackendError(BackendError):
    """No backend of that name."""


class BackendUnavailableError(BackendError):
    """The backend exists but cannot run here (no GPU Aer, no IBM account or network, device not offered)."""


@dataclass
class SamplerBackend:
    """What a sampler engine needs from a named backend."""

    name: str
    sampler: Any
    target: Any
    max_width: int | None = None
    reseed: Callable[[int], None] | None = None
    close: Callable[[], None] | None = None
    engine_options: dict[str, Any] = field(default_factory=dict)


# -- Aer ------------------------------------------------------------------------------------------------------------
def require_gpu_aer() -> None:
    """Fail fast, with the fix, when this Aer build cannot use a GPU (``device="GPU"`` would fail only at run)."""
    from qiskit_aer import AerSimulator

    devices = tuple(AerSimulator().available_devices())
    if "GPU" not in devices:
        raise BackendUnavailableError(GPU_HELP.format(devices="/".join(devices) or "no device"))


def aer_backend(name: str, shots: int | None, seed: int) -> SamplerBackend:
    """Aer's SamplerV2 (seeded per call) and the simulator, which also runs exact mode."""
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2

    options = dict(GPU_OPTIONS) if name == "aer_simulator_gpu" else {}
    if options:
        require_gpu_aer()
    simulator = AerSimulator(**options)
    sampler = SamplerV2(default_shots=shots or 1024,
                        options={"backend_options": options, "run_options": {"seed_simulator": seed}})

    def reseed(value: int) -> None:
        sampler.options.run_options["seed_simulator"] = value

    return SamplerBackend(name, sampler, simulator, reseed=reseed, engine_options={"fast_sampling": True})


# -- fake devices ---------------------------------------------------------------------------------------------------
@functools.cache
def fake_devices() -> dict[str, type]:
    """``fake_<device>`` → fake backend class, for every ``Fake*`` device class qiskit-ibm-runtime ships."""
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    devices = {}
    for class_name, cls in vars(fake_provider).items():
        if isinstance(cls, type) and issubclass(cls, FakeBackendV2) and class_name.startswith("Fake"):
            stem = class_name[len("Fake"):].removesuffix("V2")
            if stem and class_name != "FakeFractionalBackend":  # a test fixture, not a device
                devices["fake_" + stem.lower()] = cls
    return dict(sorted(devices.items()))


def fake_device(name: str) -> Any:
    try:
        return fake_devices()[name]()
    except KeyError:
        raise UnknownBackendError(
            f"--backend {name}: no such fake device; qiskit-ibm-runtime ships {', '.join(fake_devices())}"
        ) from None


def fake_backend(name: str, shots: int | None, seed: int) -> SamplerBackend:
    """The fake device's noise model on Aer, through the runtime's (non-deprecated) sampler in local mode."""
    from qiskit_aer import AerSimulator
    from qiskit_ibm_runtime.executor_sampler import Sampler

    device = fake_device(name)
    sampler = Sampler(mode=AerSimulator.from_backend(device))
    sampler.options.default_shots = shots or sampler.options.default_shots

    def reseed(value: int) -> None:
        sampler.options.simulator.seed_simulator = value

    return SamplerBackend(name, sampler, device, max_width=FAKE_SIMULATION_WIDTH, reseed=reseed)


# -- IBM Quantum ----------------------------------------------------------------------------------------------------
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-]{32,}")


def scrub_secrets(text: str) -> str:
    """``text`` without any known IBM token or anything token-shaped (32+ key characters in a row)."""
    secrets = [os.getenv("QISKIT_IBM_TOKEN") or ""]
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return _TOKEN_LIKE.sub("***", text).splitlines()[0] if text.strip() else ""


def _has_account() -> bool:
    """A token in the environment or a saved account: checked on disk, without network (unsure: True)."""
    from qiskit_ibm_runtime import QiskitRuntimeService

    if os.getenv("QISKIT_IBM_TOKEN"):
        return True
    try:
        return bool(QiskitRuntimeService.saved_accounts())
    except Exception:  # an unreadable account file: let the service report it
        return True


def retired_device_message(name: str) -> str | None:
    if name not in RETIRED_IBM_DEVICES:
        return None
    fake = "fake_" + name[len("ibm_"):]
    return (f"--backend {name}: IBM retired this device in {RETIRED_IBM_DEVICES[name]}; use --backend {fake} "
            f"(its noise model, locally) or a live device ({', '.join(LIVE_IBM_DEVICES)})")


def not_offered_message(name: str, offered: list[str]) -> str:
    return (f"--backend {name}: your IBM Quantum account does not offer this device; it offers "
            f"{', '.join(sorted(offered)) or 'none'}, or use {_local_hint(name)} to run locally")


def _local_hint(name: str) -> str:
    fake = "fake_" + name[len("ibm_"):]
    return f"--backend {fake}" if fake in fake_devices() else "--backend fake_<device> (e.g. fake_fez)"


def runtime_service(name: str) -> Any:
    """``QiskitRuntimeService`` from the saved account or QISKIT_IBM_TOKEN/QISKIT_IBM_INSTANCE (which it reads).

    Without either it fails before any network call; a failing connection is reported without its exception chain.
    """
    from qiskit_ibm_runtime import QiskitRuntimeService

    hint = f"or use {_local_hint(name)} to run locally"
    if not _has_account():
        raise BackendUnavailableError(
            f"--backend {name}: no IBM Quantum account: save one with QiskitRuntimeService.save_account(...) or "
            f"set QISKIT_IBM_TOKEN and QISKIT_IBM_INSTANCE, {hint}"
        )
    try:
        return QiskitRuntimeService()
    except Exception as exc:  # no network, bad token, unknown instance: the message may echo settings
        raise BackendUnavailableError(
            f"--backend {name}: cannot reach IBM Quantum with this account ({type(exc).__name__}: "
            f"{scrub_secrets(str(exc))}); check the network and the account, {hint}"
        ) from None


def ibm_device(name: str) -> Any:
    """The live device ``name`` from the account's service, or a clear error (retired, not offered, no account)."""
    retired = retired_device_message(name)
    if retired:
        raise BackendUnavailableError(retired)
    service = runtime_service(name)
    try:
        offered = [backend.name for backend in service.backends()]
        if name not in offered:
            raise BackendUnavailableError(not_offered_message(name, offered))
        return service.backend(name)
    except BackendUnavailableError:
        raise
    except Exception as exc:
        raise BackendUnavailableError(
            f"--backend {name}: IBM Quantum request failed ({type(exc).__name__}: {scrub_secrets(str(exc))})"
        ) from None


def ibm_backend(name: str, shots: int | None, seed: int) -> SamplerBackend:
    """The runtime's executor sampler in Batch mode on the live device (jobs of one run share the batch)."""
    from qiskit_ibm_runtime import Batch
    from qiskit_ibm_runtime.executor_sampler import Sampler

    device = ibm_device(name)
    batch = Batch(backend=device)
    sampler = Sampler(mode=batch)
    sampler.options.default_shots = shots or sampler.options.default_shots
    return SamplerBackend(name, sampler, device, close=batch.close)


# -- registry -------------------------------------------------------------------------------------------------------
SamplerBuilder = Callable[[str, "int | None", int], SamplerBackend]
SAMPLER_BACKENDS: dict[str, SamplerBuilder] = {"aer_simulator": aer_backend, "aer_simulator_gpu": aer_backend}
SAMPLER_PATTERNS: dict[str, SamplerBuilder] = {"fake_": fake_backend, "ibm_": ibm_backend}


def backend_choices() -> str:
    return ", ".join([*EXACT_BACKENDS, *(f"{prefix}<device>" for prefix in SAMPLER_PATTERNS)])


def sampler_builder(name: str) -> SamplerBuilder:
    if name in SAMPLER_BACKENDS:
        return SAMPLER_BACKENDS[name]
    for prefix, builder in SAMPLER_PATTERNS.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return builder
    raise UnknownBackendError(f"--backend: unknown backend {name!r}; choose from {backend_choices()}")


def target_backend(name: str | None) -> Any | None:
    """The backend object circuits are transpiled for: a fake or live device; ``None`` for simulators."""
    if name is None or name in EXACT_BACKENDS:
        return None
    sampler_builder(name)  # unknown names fail here
    return fake_device(name) if name.startswith("fake_") else ibm_device(name)


def check_options(name: str, shots: int | None, gradient: str) -> None:
    """Option errors before anything is built (an IBM run must not open a session to fail on --shots)."""
    if gradient not in GRADIENTS:
        raise BackendError(f"--gradient: unknown value {gradient!r}; choose from {', '.join(GRADIENTS)}")
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise BackendError(f"--shots: must be a positive integer, got {shots!r}")
    if shots is None and name not in EXACT_BACKENDS:
        raise ShotsRequiredError(f"--shots: backend {name} samples; give --shots S (e.g. 4096)")
    if name == "torch" and gradient != "param-shift":
        raise BackendError(f"--gradient {gradient}: the torch backend differentiates exactly; use a sampler backend")


def torch_engine(circuit: QuantumCircuit, *, shots: int | None = None, seed: int | None = None,
                 **options: Any) -> ProbabilityEngine:
    """The exact torch engine, or its shot-sampling variant when ``shots`` is given."""
    if shots is None:
        return StatevectorEngine(circuit, **options)
    return ShotsStatevectorEngine(circuit, shots, seed=seed, **options)


def make_backend_engine(
    name: str,
    circuit: QuantumCircuit,
    *,
    shots: int | None = None,
    gradient: str = "param-shift",
    seed: int = 0,
    optimization_level: int = 1,
    pack: bool | int = False,
    **opts: Any,
) -> ProbabilityEngine:
    """A probability engine for ``circuit`` on the backend ``name`` (see module doc for the names).

    ``opts`` go to the engine (torch: ``dtype``, ``group_count``; sampler: ``spsa_epsilon``, ``spsa_samples``).
    ``pack`` and ``optimization_level`` do not apply to ``torch``.
    """
    check_options(name, shots, gradient)
    if name == "torch":
        return torch_engine(circuit, shots=shots, seed=seed, **opts)
    backend = sampler_builder(name)(name, shots, seed)
    engine = SamplerEngine(
        circuit, backend.sampler, backend=backend.target, shots=shots, gradient=gradient,
        optimization_level=optimization_level, pack=pack, seed=seed, max_width=backend.max_width,
        reseed=backend.reseed, on_close=backend.close, **{**backend.engine_options, **opts},
    )
    log.info("%s: %r", name, engine)
    return engine
