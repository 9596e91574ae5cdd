"""The one table of backend names: a name (or a name prefix) → its family (what kind, exact or sampling, which
module resolves its device and opens its sampler). Adding a backend family is one module and one entry here.

- ``torch``: the exact torch engine; ``shots=S`` samples S shots per channel forward, exact gradient backward.
- ``aer_simulator`` / ``aer_simulator_gpu``: Aer on CPU / NVIDIA GPU (``aer``).
- ``fake_<device>``: a fake IBM device's noise model, locally (``fake``).
- ``ibm_<device>``: IBM Quantum hardware (``ibm``).

A family module offers ``target(name)`` (the device circuits are transpiled for, None for simulators) and
``open_sampler(spec, device)`` (a ``SamplerBackend``). Nothing here imports qiskit_aer or qiskit_ibm_runtime:
the family modules import them where used.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import aer, fake, ibm
from .base import UnknownBackendError


@dataclass(frozen=True)
class BackendFamily:
    """What a backend name stands for: ``kind``, whether it runs without shots, and its module (None: torch)."""

    kind: str
    exact: bool
    module: ModuleType | None = None


TORCH = BackendFamily("torch", exact=True)
NAMES: dict[str, BackendFamily] = {
    "torch": TORCH,
    "aer_simulator": BackendFamily("aer", exact=True, module=aer),
    "aer_simulator_gpu": BackendFamily("aer", exact=True, module=aer),
}
PREFIXES: dict[str, BackendFamily] = {
    "fake_": BackendFamily("fake", exact=False, module=fake),
    "ibm_": BackendFamily("ibm", exact=False, module=ibm),
}
EXACT_BACKENDS = tuple(name for name, family in NAMES.items() if family.exact)


def backend_choices() -> str:
    """The names a user may give, for messages and help texts."""
    return ", ".join([*NAMES, *(f"{prefix}<device>" for prefix in PREFIXES)])


def backend_family(name: str) -> BackendFamily:
    """The family of a backend name: an exact entry, else the first matching prefix; unknown names fail here."""
    if name in NAMES:
        return NAMES[name]
    for prefix, family in PREFIXES.items():
        if isinstance(name, str) and name.startswith(prefix) and len(name) > len(prefix):
            return family
    raise UnknownBackendError(f"--backend: unknown backend {name!r}; choose from {backend_choices()}")


def target_backend(name: str | None) -> Any | None:
    """The device circuits are transpiled for: a fake or live device; ``None`` for simulators (and no name).

    Everyone who needs a device for a name asks here (the circuit report, the cost guard, sessions).
    """
    if name is None:
        return None
    family = backend_family(name)
    return family.module.target(name) if family.module is not None else None
