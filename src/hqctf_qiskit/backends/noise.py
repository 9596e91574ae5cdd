"""``--noise DEVICE``: a device's noise for the torch engine, and where that device would run a layer's channels.

The noise is what ``AerSimulator.from_backend(device)`` simulates: ``qiskit_aer.noise.NoiseModel.from_backend``
(per-instruction depolarizing composed with thermal relaxation from T1/T2 and gate durations, per-qubit readout
errors), looked up per instruction and physical qubits as Aer looks it up (the error for those qubits, else the
instruction's all-qubit error). The model is built by that same function from the device's Target restricted to the
qubits a line uses: each entry depends only on its own qubits' calibration, so the entries equal the full model's
(the tests compare against Aer's own), built in ~0.1 s instead of 3-20 s for a 127-156-qubit device.
``fake_<device>`` is the runtime's fake device (cached per process); ``ibm_<device>`` is the live device's current
calibration, through the account.

Placement is the sampler engine's (``engines.sampler.placed_lines``: lines scored by the layer's own gate usage):
unpacked, every channel on its first qubit line; with ``--pack``, as many lines as the sampler would pack (capped as
it caps them), channel c on line ``c mod L``. Importing this module loads no qiskit (the config checks the name with it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, HqctfError
from .base import BackendError, UnknownBackendError
from .registry import backend_family

if TYPE_CHECKING:
    import numpy as np
    from qiskit.circuit import QuantumCircuit

    from ..engines.noisy import NoisyDensityMatrixEngine
    from .spec import BackendSpec

log = logging.getLogger(__name__)

NOISE_KINDS = ("fake", "ibm")
_CACHE: dict[str, DeviceNoise] = {}


def check_noise_name(name: str | None, option: str = "--noise") -> str | None:
    """``name`` if it names a device (``fake_*``, ``ibm_*``); the device itself is resolved when a run starts.
    ``option``: how messages name the value (``--noise``, or a command's argument)."""
    if name is None:
        return None
    try:
        kind = backend_family(name).kind
    except UnknownBackendError:
        kind = None
    if kind not in NOISE_KINDS:
        raise ConfigError(f"{option}: {name!r} is not a device; give fake_<device> (e.g. fake_brisbane) or "
                          "ibm_<device>")
    return name


def check_noise_backend(backend: str, noise: str | None) -> None:
    """Device noise is for the torch engine; sampler backends already run with their device's noise (or none)."""
    if noise is not None and backend != "torch":
        raise ConfigError(
            f"--noise: only --backend torch takes a device noise model; --backend {backend} runs its own simulator or "
            f"device (use --backend torch --noise {noise}, or --backend {noise} to sample on the device's model)"
        )


def restricted_target(target: Any, qubits: set[int]) -> Any:
    """A copy of ``target`` with the calibrated instructions on ``qubits`` only (all qubit properties kept)."""
    import inspect

    from qiskit.transpiler import Target

    restricted = Target(num_qubits=target.num_qubits, dt=target.dt, qubit_properties=target.qubit_properties)
    for name in target.operation_names:
        operation, properties = target.operation_from_name(name), target[name]
        if inspect.isclass(operation) or properties is None or None in properties:  # global (control flow, ...)
            restricted.add_instruction(operation, name=name)
            continue
        kept = {qargs: value for qargs, value in properties.items() if set(qargs) <= qubits}
        if kept:
            restricted.add_instruction(operation, kept, name=name)
    return restricted


@dataclass
class DeviceNoise:
    """A device (the transpilation target) and its Aer noise model, with the lookups the noisy engine needs."""

    name: str
    device: Any
    max_width: int | None  # widest packed circuit the sampler path would run on this device
    _models: list[tuple[frozenset[int], Any]] = field(default_factory=list)

    def model_for(self, qubits: Iterable[int]) -> Any:
        """``NoiseModel.from_backend`` for the device restricted to ``qubits`` (cached; see module doc)."""
        wanted = frozenset(qubits)
        for covered, model in self._models:
            if wanted <= covered:
                return model
        from qiskit_aer.noise import NoiseModel

        device = self.device
        view = SimpleNamespace(version=2, operation_names=device.operation_names, dt=device.dt,
                               target=restricted_target(device.target, set(wanted)))
        model = NoiseModel.from_backend(view)
        log.debug("--noise %s: noise model of qubits %s", self.name, sorted(wanted))
        self._models.append((wanted, model))
        return model

    def channel(self, instruction: str, qubits: tuple[int, ...]) -> np.ndarray | None:
        """The superoperator of the error Aer applies after ``instruction`` on physical ``qubits`` (None: none)."""
        from qiskit.quantum_info import SuperOp

        model = self.model_for(qubits)
        # NoiseModel has no public per-instruction lookup; these are the tables add_quantum_error fills.
        error = model._local_quantum_errors.get(instruction, {}).get(tuple(qubits))
        if error is None:
            error = model._default_quantum_errors.get(instruction)
        return None if error is None else SuperOp(error.to_quantumchannel()).data

    def readout(self, qubit: int) -> np.ndarray:
        """Readout assignment probabilities ``[true, measured]`` of physical ``qubit`` (identity without error)."""
        import numpy as np

        model = self.model_for((qubit,))
        error = model._local_readout_errors.get((qubit,), model._default_readout_error)
        return np.eye(2) if error is None else np.asarray(error.probabilities, dtype=float)


def device_noise(name: str, option: str = "--noise") -> DeviceNoise:
    """The device ``name`` and its noise model; messages name ``option``. Fake devices are cached per process."""
    check_noise_name(name, option)
    if name in _CACHE:
        return _CACHE[name]
    from .fake import FAKE_SIMULATION_WIDTH

    family = backend_family(name)
    try:
        device = family.module.target(name)
    except HqctfError as exc:  # the family's message names --backend; the user gave --noise
        raise BackendError(str(exc).replace(f"--backend {name}", f"{option} {name}")
                           .replace("--backend", "--noise")) from None
    noise = DeviceNoise(name, device, FAKE_SIMULATION_WIDTH if family.kind == "fake" else None)
    if family.kind == "fake":
        _CACHE[name] = noise
    return noise


def placement_lines(noise: DeviceNoise, circuit: QuantumCircuit, pack: bool | int = False,
                    optimization_level: int = 1, seed: int = 0) -> list[list[int] | None]:
    """The qubit lines the sampler path would run the layer ``circuit`` on (see module doc): the sampler engine's
    own ``placed_lines``, so both score lines by this circuit's gate usage and pack the same number of them."""
    from ..engines.sampler import placed_lines

    logical = circuit.remove_final_measurements(inplace=False) if circuit.num_clbits else circuit
    return placed_lines(logical, noise.device, pack, noise.max_width, optimization_level, seed) or [None]


def noisy_engine(circuit: QuantumCircuit, spec: BackendSpec, noise: DeviceNoise,
                 **options: Any) -> NoisyDensityMatrixEngine:
    """The torch engine under ``noise`` for ``circuit``, placed and transpiled as ``spec`` would place it."""
    from ..engines.noisy import NoisyDensityMatrixEngine

    logical = circuit.remove_final_measurements(inplace=False) if circuit.num_clbits else circuit
    lines = placement_lines(noise, logical, spec.pack, spec.optimization_level, spec.seed)
    options.pop("group_count", None)  # a statevector option; the density-matrix engine has no qubit groups
    return NoisyDensityMatrixEngine(circuit, noise, lines, optimization_level=spec.optimization_level,
                                    seed=spec.seed, shots=spec.shots, **options)
