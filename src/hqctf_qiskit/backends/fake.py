"""``fake_<device>``: a ``qiskit_ibm_runtime.fake_provider`` device (coupling map, basis, noise model), locally.

Runs in the runtime's local testing mode through ``qiskit_ibm_runtime.executor_sampler.Sampler`` (``SamplerV2`` is
deprecated since 0.50) with ``AerSimulator.from_backend(device)`` as mode: about 2x faster than the fake device
itself, which rebuilds its noise model on every call. qiskit_ibm_runtime and qiskit_aer are imported where used.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from .base import SamplerBackend, UnknownBackendError

if TYPE_CHECKING:
    from .spec import BackendSpec

FAKE_SIMULATION_WIDTH = 8
"""Widest packed circuit a fake device simulates locally. Aer simulates small noisy circuits as density matrices
(4**width): a 4-qubit circuit packed 2x (8 qubits) costs ~3 s a call, 3x (12 qubits) ~75 s. Packing pays off on
hardware; on a fake device it is only exercised."""


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
    """A new instance of the fake device ``name``, or an error listing the devices qiskit-ibm-runtime ships."""
    try:
        return fake_devices()[name]()
    except KeyError:
        raise UnknownBackendError(
            f"--backend {name}: no such fake device; qiskit-ibm-runtime ships {', '.join(fake_devices())}"
        ) from None


def target(name: str) -> Any:
    """The fake device: circuits are transpiled for its coupling map and basis."""
    return fake_device(name)


def open_sampler(spec: BackendSpec, device: Any) -> SamplerBackend:
    """The fake device's noise model on Aer, through the runtime's (non-deprecated) sampler in local mode."""
    from qiskit_aer import AerSimulator
    from qiskit_ibm_runtime.executor_sampler import Sampler

    sampler = Sampler(mode=AerSimulator.from_backend(device))
    sampler.options.default_shots = spec.shots or sampler.options.default_shots

    def reseed(value: int) -> None:
        sampler.options.simulator.seed_simulator = value

    return SamplerBackend(spec.name, sampler, device, max_width=FAKE_SIMULATION_WIDTH, reseed=reseed)
