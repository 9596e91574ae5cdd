"""``BackendSession``: the backend of one run, opened once and closed at its end.

A run (training, the ``--weights-from`` hardware trial) owns one session, built from a ``BackendSpec``. The session
resolves the device once (one IBM runtime service), opens the sampler once (one IBM ``Batch`` for every job of the
run), gives each distinct circuit one engine (equal circuits — e.g. every layer with the same qubit count — share
it) and ``close()`` closes every engine and then the sampler (the Batch). The torch backend's session builds torch
engines only: it imports neither qiskit_aer nor qiskit_ibm_runtime. Importing this module loads no qiskit (the engine
classes are imported when the first engine is built), so a run without QPG layers never needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..engines.base import ProbabilityEngine, close_engine
from .base import SamplerBackend
from .registry import BackendFamily
from .spec import BackendSpec

if TYPE_CHECKING:
    from qiskit.circuit import QuantumCircuit

log = logging.getLogger(__name__)

SPEC_OPTIONS = ("shots", "gradient", "pack", "optimization_level", "seed", "noise", "mitigation", "twirling", "dd")
_UNRESOLVED = object()

SamplerOpener = Callable[[BackendSpec, Any], SamplerBackend]


def circuit_key(circuit: QuantumCircuit) -> tuple:
    """Equal for circuits with the same qubits, instructions and parameter names: such circuits share an engine."""
    def index(bit: Any) -> int:
        return circuit.find_bit(bit).index

    return (circuit.num_qubits, circuit.num_clbits, tuple(
        (instruction.operation.name, tuple(index(q) for q in instruction.qubits),
         tuple(index(c) for c in instruction.clbits), tuple(str(p) for p in instruction.operation.params))
        for instruction in circuit.data
    ))


class BackendSession:
    """One run's backend: its device, its sampler and one engine per distinct circuit; a context manager.

    ``open_sampler(spec, device)``: how the sampler is opened (default: the backend family's); a run never passes
    it — it exists so a test can stand in for IBM's cloud with a local sampler and a recorded ``close``.
    """

    def __init__(self, spec: BackendSpec, open_sampler: SamplerOpener | None = None) -> None:
        self.spec = spec
        self.family: BackendFamily = spec.family
        module = self.family.module
        self._open_sampler = open_sampler or (module.open_sampler if module is not None else None)
        self._target: Any = _UNRESOLVED
        self._sampler: SamplerBackend | None = None
        self._engines: dict[tuple, ProbabilityEngine] = {}
        self._noise: Any = None  # backends.noise.DeviceNoise of --noise, resolved on the first engine
        self._mitigation: Any = None  # engines.mitigation.ReadoutMitigation: calibrations shared by all engines
        self.closed = False

    # -- what the run asks for ----------------------------------------------------------------------------------
    @property
    def target(self) -> Any | None:
        """The device circuits are transpiled for (None for simulators), resolved once per session."""
        if self._target is _UNRESOLVED:
            module = self.family.module
            self._target = module.target(self.spec.name) if module is not None else None
        return self._target

    @property
    def sampler_backend(self) -> SamplerBackend:
        """The sampler every engine of this session shares, opened on first use (the IBM Batch)."""
        self._check_open()
        if self._sampler is None:
            if self._open_sampler is None:
                raise TypeError(f"backend {self.spec.name} runs on torch engines: it has no sampler")
            self._sampler = self._open_sampler(self.spec, self.target)
            log.debug("%s: sampler opened", self.spec.name)
        return self._sampler

    def engine(self, circuit: QuantumCircuit, **options: Any) -> ProbabilityEngine:
        """The engine for ``circuit``: built on first request, then shared by every equal circuit.

        ``options`` go to the engine (torch: ``dtype``, ``group_count``; sampler: ``spsa_epsilon``, ``spsa_samples``).
        """
        self._check_open()
        key = (circuit_key(circuit), tuple(sorted(options.items())))
        if key not in self._engines:
            self._engines[key] = self._build(circuit, options)
        return self._engines[key]

    __call__ = engine

    @property
    def mitigation(self) -> Any | None:
        """The run's readout mitigation (None without ``--mitigation``): each physical qubit is calibrated once per
        session, by the first engine that measures it."""
        if self._mitigation is None and self.spec.mitigation != "none":
            from ..engines.mitigation import ReadoutMitigation

            self._mitigation = ReadoutMitigation(self.spec.mitigation, self.target,
                                                 optimization_level=self.spec.optimization_level, seed=self.spec.seed)
        return self._mitigation

    @property
    def engines(self) -> list[ProbabilityEngine]:
        return list(self._engines.values())

    # -- building -----------------------------------------------------------------------------------------------
    def _build(self, circuit: QuantumCircuit, options: dict[str, Any]) -> ProbabilityEngine:
        spec = self.spec
        if self._open_sampler is None and spec.noise is not None:  # torch under a device's noise
            from .noise import device_noise, noisy_engine

            self._noise = self._noise or device_noise(spec.noise)
            engine = noisy_engine(circuit, spec, self._noise, **options)
            log.info("%s: %r", spec.name, engine)
            return engine
        if self._open_sampler is None:  # torch
            from ..engines.shots import ShotsStatevectorEngine
            from ..engines.statevector import StatevectorEngine

            if spec.shots is None:
                return StatevectorEngine(circuit, **options)
            return ShotsStatevectorEngine(circuit, spec.shots, seed=spec.seed, **options)
        from ..engines.sampler import SamplerEngine

        backend = self.sampler_backend
        engine = SamplerEngine(
            circuit, backend.sampler, backend=backend.backend, shots=spec.shots, gradient=spec.gradient,
            optimization_level=spec.optimization_level, pack=spec.pack, seed=spec.seed, max_width=backend.max_width,
            reseed=backend.reseed, mitigation=self.mitigation, **{**backend.engine_options, **options},
        )
        log.info("%s: %r", spec.name, engine)
        return engine

    # -- closing ------------------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"the {self.spec.name} backend session is closed")

    def close(self) -> None:
        """Close every engine, then the sampler (the IBM Batch); a second call does nothing."""
        if self.closed:
            return
        self.closed = True
        try:
            for engine in self._engines.values():
                close_engine(engine)
        finally:
            sampler, self._sampler = self._sampler, None
            if sampler is not None and sampler.close is not None:
                sampler.close()
                log.debug("%s: sampler closed", self.spec.name)

    def __enter__(self) -> "BackendSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._engines)} engine(s)"
        return f"BackendSession({self.spec.name}, {state})"


def make_engine(name: str, circuit: QuantumCircuit, **options: Any) -> ProbabilityEngine:
    """One engine in a session of its own (tests, benchmarks, one-off use); closing the engine closes the session.

    ``options``: the spec's (``shots``, ``gradient``, ``pack``, ``optimization_level``, ``seed``) and the engine's.
    A run uses one ``BackendSession`` for all its circuits instead.
    """
    spec = BackendSpec(name, **{key: options.pop(key) for key in SPEC_OPTIONS if key in options})
    session = BackendSession(spec)
    engine = session.engine(circuit, **options)
    if hasattr(engine, "on_close"):  # a sampler engine: closing it releases its session's sampler
        engine.on_close = session.close
    return engine
