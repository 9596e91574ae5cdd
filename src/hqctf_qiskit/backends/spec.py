"""``BackendSpec``: a backend name and how to run it, validated once, with messages naming the option.

The gradient and shots rules are the cost model's (``engines.cost``, which the engines also apply); the backend
rules — a known name, shots for sampling-only backends, no sampled gradient on the exact torch engine, a transpiler
optimization level — are written here. Importing this module loads no qiskit (the config may validate with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engines.base import ShotsRequiredError
from ..engines.cost import check_gradient, check_shots
from ..engines.mitigation import check_mitigation
from ..errors import BackendError, ConfigError
from .noise import check_noise_backend, check_noise_name
from .registry import BackendFamily, backend_family

OPTIMIZATION_LEVELS = (0, 1, 2, 3)


def check_optimization_level(level: int) -> int:
    """``level`` if Qiskit's preset pass managers have it, else a one-line error naming ``--optimization-level``."""
    if isinstance(level, bool) or level not in OPTIMIZATION_LEVELS:
        raise BackendError(f"--optimization-level: must be 0, 1, 2 or 3, got {level!r}")
    return level


def check_sampler_options(name: str, kind: str, mitigation: str, twirling: bool, dd: str | None) -> None:
    """``--mitigation`` undoes a sampled device's readout errors (fake_*, ibm_*); ``--twirling`` and ``--dd`` are
    IBM Runtime sampler options, so they need an ibm_* backend (the sequence is checked against the runtime)."""
    check_mitigation(mitigation)
    if mitigation != "none" and kind not in ("fake", "ibm"):
        raise ConfigError(f"--mitigation {mitigation}: readout mitigation applies to sampled devices (fake_*, "
                          f"ibm_*), not to {name}")
    for option, value in (("--twirling", twirling), ("--dd", dd)):
        if value and kind != "ibm":
            raise ConfigError(f"{option}: an IBM Runtime sampler option, for ibm_* backends only, not {name}")
    if dd and kind == "ibm":
        from .ibm import check_dd_sequence

        check_dd_sequence(dd)


def check_pack(pack: bool | int) -> bool | int:
    """``True``/``False``, or a number of channels per circuit >= 1."""
    if not isinstance(pack, (bool, int)) or (not isinstance(pack, bool) and pack < 1):
        raise BackendError(f"--pack: must be on, off or a number of channels per circuit >= 1, got {pack!r}")
    return pack


@dataclass(frozen=True)
class BackendSpec:
    """A validated backend request: ``name`` (see ``registry``), ``shots`` (None: exact), ``gradient``
    (sampler backends), ``pack`` (channels per circuit: False, True for as many as fit, or at most N),
    ``optimization_level`` (transpiler) and ``seed`` (sampling, transpiling, SPSA directions).

    ``noise`` (torch only): a device whose noise the torch engine simulates (``backends.noise``); ``pack`` and
    ``optimization_level`` apply to ``torch`` only with ``noise`` (where the device would place the circuits).
    ``mitigation`` (fake_*, ibm_*): readout mitigation of sampled probabilities (``engines.mitigation``);
    ``twirling``, ``dd`` (ibm_*): the runtime sampler's Pauli twirling and dynamical-decoupling sequence.
    """

    name: str = "torch"
    shots: int | None = None
    gradient: str = "param-shift"
    pack: bool | int = False
    optimization_level: int = 1
    seed: int = 0
    noise: str | None = None
    mitigation: str = "none"
    twirling: bool = False
    dd: str | None = None

    def __post_init__(self) -> None:
        family = backend_family(self.name)  # an unknown name is the first thing to fix
        check_gradient(self.gradient)
        check_shots(self.shots)
        check_optimization_level(self.optimization_level)
        check_pack(self.pack)
        check_noise_name(self.noise)
        check_noise_backend(self.name, self.noise)
        check_sampler_options(self.name, family.kind, self.mitigation, self.twirling, self.dd)
        if self.shots is None and not family.exact:
            raise ShotsRequiredError(f"--shots: backend {self.name} samples; give --shots S (e.g. 4096)")
        if family.kind == "torch" and self.gradient != "param-shift":
            raise BackendError(
                f"--gradient {self.gradient}: the torch backend differentiates exactly; use a sampler backend"
            )

    @property
    def family(self) -> BackendFamily:
        return backend_family(self.name)

    @property
    def kind(self) -> str:
        """``torch``, ``aer``, ``fake`` or ``ibm``."""
        return self.family.kind

    @property
    def is_hardware(self) -> bool:
        return self.kind == "ibm"

    @classmethod
    def from_config(cls, config: Any) -> "BackendSpec":
        """The backend a run config asks for: its ``backend`` section and the run seed."""
        backend = config.backend
        return cls(name=backend.name, shots=backend.shots, gradient=backend.gradient, pack=backend.pack,
                   optimization_level=backend.optimization_level, seed=config.optim.seed, noise=backend.noise,
                   mitigation=backend.mitigation, twirling=backend.twirling, dd=backend.dd)
