"""A probability engine on any Qiskit ``BaseSamplerV2`` (Aer, IBM Runtime, fake devices), with batched gradients.

One engine per circuit shape (QPG layer): the circuit is transpiled ONCE for the backend (ISA, on a line of
physical qubits so a linear ansatz needs no SWAPs: the line most likely to succeed, ``circuits.transpile``) and
every forward and backward pass is ONE sampler call whose single PUB carries all parameter sets (B channels
forward; B·2P shifted sets for parameter-shift; 2·B·samples for SPSA). With packing, k channels share one wide circuit and its shots.

Forward (shots, unpacked) goes through qiskit-machine-learning's ``SamplerQNN`` with the channels' parameters as
its input batch, as ``TorchConnector`` would call it. Bit mapping on transpiled circuits — the bug class of
qiskit-machine-learning #1040/#1041 — is handled as follows (checked on 0.9.1):

- Measurements are added to the LOGICAL circuit (``measure_all``, register ``meas``) before transpiling, so the
  transpiler routes logical qubit i's measurement to its final physical qubit (initial layout and any routing
  permutation) and clbit i always holds logical qubit i.
- Given a circuit that carries a layout, SamplerQNN 0.9.1 re-maps every outcome by reading bit ``q`` for the
  physical qubit ``q`` of each logical qubit (``layout.final_index_layout``). For a register that is already in
  logical order that reads bits that do not exist: on a 3-qubit circuit placed on qubits 10-12 of FakeBrisbane every
  shot lands in |000> (rows sum to 1, but max error 0.99). Without measurements it measures all 127 device qubits.
- So SamplerQNN gets a layout-free copy of the ISA circuit (same instructions on the same physical qubits) with
  ``interpret`` = identity and ``output_shape = 2**n``: the no-layout branch keeps each logical-order outcome as is.
  (Measuring each qubit into a clbit with its physical index would also satisfy 0.9.1's layout branch, but makes
  every shot as wide as the device, 3x slower on Aer.)

The gradient rows and packed circuits are run on the sampler directly and tabulated with vectorized bit maps
(``circuits.packing``): SamplerQNN's forward converts counts row by row in Python (1.7 s against 0.08 s for the 576
rows of a B=16, n=6 parameter-shift pass at 4096 shots), and it cannot split a packed circuit's registers.

Exact mode (``shots=None``, noise-free Aer only) evaluates ``save_probabilities`` on the physical qubits that hold
the logical ones, all parameter sets in one Aer run: Aer's SamplerV2 always samples. On noise-free Aer with shots,
``fast_sampling`` draws the gradient's shots from those exact probabilities (same distribution, ~20x less time; see
``SamplerEngine``).
"""

from __future__ import annotations

import functools
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from qiskit.circuit import ParameterExpression, QuantumCircuit
from qiskit.primitives import BaseSamplerV2
from qiskit.primitives.containers.sampler_pub import SamplerPub

from ..errors import ConfigError
from ..circuits.packing import PackedCircuit, bitarray_probabilities, marginal_probabilities, max_slots, pack_circuit
from ..circuits.transpile import LineUsage, circuit_usage, coupling_edges, find_line_layouts, transpile_isa
from .base import ShotsRequiredError, UnsupportedCircuitError
from .cost import check_gradient, check_shots, step_cost
from .gradients import SamplerFunction, param_shift_jacobian, spsa_vjp

log = logging.getLogger(__name__)

PARAM_SHIFT_GATES = frozenset({"rx", "ry", "rz", "p", "u1", "rxx", "ryy", "rzz", "rzx"})


class CountingSampler(BaseSamplerV2):
    """Wraps a sampler: runs every PUB with the engine's shots, re-seeds a simulator per call, counts the work."""

    def __init__(self, sampler: BaseSamplerV2, shots: int, reseed: Callable[[int], None] | None = None,
                 seed: int = 0) -> None:
        self.sampler, self.shots, self.reseed, self.seed = sampler, shots, reseed, seed
        self.calls = 0
        self.circuits = 0
        self.shots_total = 0

    def run(self, pubs: Iterable[Any], *, shots: int | None = None) -> Any:
        pubs = [SamplerPub.coerce(pub, shots or self.shots) for pub in pubs]
        if self.reseed is not None:
            self.reseed(self.seed + self.calls)  # fresh, reproducible noise per call
        self.calls += 1
        for pub in pubs:
            executions = math.prod(pub.shape)
            self.circuits += executions
            self.shots_total += executions * pub.shots
        return self.sampler.run(pubs, shots=shots or self.shots)


def check_param_shift(circuit: QuantumCircuit) -> None:
    """Parameter-shift is exact only if each parameter enters one Pauli rotation with coefficient ±1."""
    uses: Counter = Counter()
    for instruction in circuit.data:
        operation = instruction.operation
        for value in operation.params:
            if not isinstance(value, ParameterExpression):
                continue
            for parameter in value.parameters:
                uses[parameter] += 1
                try:
                    slope = abs(float(value.gradient(parameter)))
                except TypeError:  # the derivative still depends on parameters: not linear
                    slope = math.nan
                if operation.name not in PARAM_SHIFT_GATES or slope != 1.0:
                    raise UnsupportedCircuitError(
                        f"--gradient param-shift needs each parameter in a Pauli rotation "
                        f"({', '.join(sorted(PARAM_SHIFT_GATES))}) with coefficient ±1; {parameter} enters "
                        f"{operation.name}({value}): use --gradient spsa"
                    )
    shared = [str(p) for p in circuit.parameters if uses[p] != 1]
    if shared:
        raise UnsupportedCircuitError(
            f"--gradient param-shift needs each parameter in exactly one gate; {', '.join(shared[:5])} "
            "appear in several: use --gradient spsa"
        )


def measured_qubits(circuit: QuantumCircuit, register: str = "meas") -> list[int]:
    """The physical qubit measured into each bit of ``register`` of a transpiled circuit (logical order)."""
    bits = {bit: i for i, bit in enumerate(next(r for r in circuit.cregs if r.name == register))}
    qubits: dict[int, int] = {}
    for instruction in circuit.data:
        if instruction.operation.name == "measure" and instruction.clbits[0] in bits:
            qubits[bits[instruction.clbits[0]]] = circuit.find_bit(instruction.qubits[0]).index
    return [qubits[i] for i in range(len(bits))]


def without_layout(circuit: QuantumCircuit) -> QuantumCircuit:
    """The same instructions on the same (physical) qubits, with no layout attached (see module doc)."""
    plain = QuantumCircuit(*circuit.qregs, *circuit.cregs, name=circuit.name)
    plain.compose(circuit, inplace=True)
    return plain


def requested_slots(pack: bool | int | None) -> int | None:
    """``pack`` as channels per circuit: 1 for no packing, None for as many as fit, else at most that many."""
    if pack is None or pack is False:
        return 1
    if pack is True:
        return None
    return max(1, int(pack))


def layer_usage(logical: QuantumCircuit, backend: Any, optimization_level: int = 1, seed: int = 0) -> LineUsage | None:
    """What the layer's measured circuit does per qubit-line position: its lines are chosen by its own success
    probability (``circuit_usage``); None without a backend."""
    if backend is None:
        return None
    measured = logical.copy()
    measured.measure_all()
    return circuit_usage(measured, backend, optimization_level, seed)


def layer_lines(backend: Any, num_qubits: int, count: int, usage: LineUsage | None) -> list[list[int]]:
    """The ``count`` best qubit lines for a layer doing ``usage``; [] without a device (the transpiler places it)."""
    if backend is None or coupling_edges(backend) is None:
        return []
    return find_line_layouts(backend, num_qubits, count=count, usage=usage)


def packing_slots(backend: Any, num_qubits: int, wanted: int | None, max_width: int | None,
                  usage: LineUsage | None) -> int:
    """Channels per circuit: ``wanted`` (None: as many as fit), capped by the device's lines and ``max_width``."""
    if wanted == 1:
        return 1
    available = max_slots(backend, num_qubits, usage) if backend is not None else 1
    if max_width is not None:
        available = min(available, max(1, max_width // num_qubits))
    if wanted is not None and wanted > available:
        log.warning("packing %d channels per circuit requested, %d fit: using %d", wanted, available, available)
    return available if wanted is None else min(wanted, available)


def placed_lines(logical: QuantumCircuit, backend: Any, pack: bool | int | None = False, max_width: int | None = None,
                 optimization_level: int = 1, seed: int = 0) -> list[list[int]]:
    """The qubit lines the sampler engine runs ``logical`` on: one unpacked, one per channel slot packed (the
    noisy torch engine places its channels here too, so both paths use the same physical qubits)."""
    usage = layer_usage(logical, backend, optimization_level, seed)
    slots = packing_slots(backend, logical.num_qubits, requested_slots(pack), max_width, usage)
    return layer_lines(backend, logical.num_qubits, slots, usage)


def _identity(outcome: int) -> int:
    return outcome


def exact_simulator(backend: Any) -> Any:
    """``backend`` if it is a noise-free AerSimulator (exact probabilities possible), else a clear error."""
    from qiskit_aer import AerSimulator

    if isinstance(backend, AerSimulator) and backend.options.noise_model is None:
        return backend
    name = getattr(backend, "name", None) or type(backend).__name__
    raise ShotsRequiredError(
        f"backend {name} samples: give --shots S (e.g. 4096); exact probabilities need aer_simulator or torch"
    )


class SamplerEngine:
    """Probabilities ``[B, 2**n]`` of one circuit for B parameter sets on a sampler, differentiable (see module doc).

    ``sampler``: any ``BaseSamplerV2`` (unused in exact mode). ``backend``: the transpilation target (its
    coupling map chooses the qubit lines); in exact mode (``shots=None``) a noise-free ``AerSimulator``, which also
    runs the circuits. ``pack``: ``True`` for as many channels per wide circuit as the device has qubit lines
    (capped at ``max_width`` qubits for local simulation), an int for at most that many, ``False`` for one.
    ``reseed(seed)`` is called before each sampler call with ``seed + call index`` (simulators); ``on_close`` once by
    ``close()`` (what an engine made outside a run's session must release: its own IBM Batch). ``fast_sampling``
    (noise-free Aer ``backend``, unpacked): the gradient's shots are drawn from Aer's exact probabilities, one
    seeded multinomial per parameter set — the distribution Aer's sampler draws from when all measurements are
    terminal, without its per-shot cost (Aer samples ~3.5 ms per 4096-shot experiment, and SamplerV2 turns every
    shot into a string: 2.3 s against 0.1 s for the 576 parameter sets of a B=16, n=6 parameter-shift pass). The
    forward still runs on the sampler through SamplerQNN. ``mitigation``: a session's ``ReadoutMitigation``
    (``engines.mitigation``): the measured qubits are calibrated through this engine's sampler when it is built
    (counted in its circuits), and every sampled row — forward and gradient — is mitigated.
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        sampler: BaseSamplerV2 | None = None,
        backend: Any = None,
        shots: int | None = None,
        gradient: str = "param-shift",
        spsa_epsilon: float = 0.05,
        spsa_samples: int = 1,
        optimization_level: int = 1,
        pack: bool | int = False,
        seed: int = 0,
        max_width: int | None = None,
        reseed: Callable[[int], None] | None = None,
        on_close: Callable[[], None] | None = None,
        fast_sampling: bool = False,
        mitigation: Any = None,
    ) -> None:
        check_gradient(gradient)
        check_shots(shots)
        if spsa_epsilon <= 0 or spsa_samples < 1:
            raise ConfigError(f"SPSA needs epsilon > 0 and samples >= 1, got {spsa_epsilon}, {spsa_samples}")
        if shots is not None and sampler is None:
            raise ValueError("SamplerEngine with --shots needs a sampler")
        if mitigation is not None and (shots is None or backend is None):
            raise ValueError("readout mitigation needs shots and the backend's device")
        self.circuit = circuit
        self.logical = circuit.remove_final_measurements(inplace=False) if circuit.num_clbits else circuit
        self.num_qubits = self.logical.num_qubits
        self.num_parameters = self.logical.num_parameters
        self.backend, self.shots, self.gradient = backend, shots, gradient
        self.spsa_epsilon, self.spsa_samples = spsa_epsilon, spsa_samples
        self.optimization_level, self.seed = optimization_level, seed
        self._rng = np.random.default_rng(seed)  # SPSA directions
        self._shots_rng = np.random.default_rng([seed, 1])  # fast sampling
        self.on_close = on_close
        self.closed = False
        self.mitigation = mitigation
        self._aer_runs = self._aer_circuits = self._aer_shots = 0
        self.circuits_per_forward = self.circuits_per_backward = 0

        self.sampler = CountingSampler(sampler, shots, reseed, seed) if shots is not None else None
        self.slots = self._slots(requested_slots(pack), max_width) if shots is not None else 1
        if shots is None and requested_slots(pack) != 1:
            log.info("packing ignored in exact mode: it shares shots, and exact mode has none")
        self.fast_sampling = fast_sampling and shots is not None and self.slots == 1
        self._simulator = exact_simulator(backend) if shots is None or self.fast_sampling else None
        self._compile()
        if self.mitigation is not None:
            self.mitigation.calibrate([q for qubits in self.slot_qubits for q in qubits], self.sampler)
        log.debug("%r", self)

    # -- construction helpers ------------------------------------------------------------------------------------
    def _compile(self) -> None:
        """Transpile once: the measured circuit (and its exact-mode twin), or the packed one; wrap the QNN."""
        measured = self.logical.copy()
        measured.measure_all()
        self.layout = next(iter(self._lines(1)), None)
        self.isa = self._transpile(measured, self.layout)
        self.measured_qubits = measured_qubits(self.isa)
        if self.gradient == "param-shift":
            check_param_shift(self.isa)
        self._check_parameters(self.isa, self.logical)
        if self._simulator is not None:
            self._exact_circuit = self.isa.remove_final_measurements(inplace=False)
            self._exact_circuit.save_probabilities(qubits=self.measured_qubits)
        self.packed: PackedCircuit | None = None
        self.qnn = None
        if self.slots > 1:
            self.packed = pack_circuit(self.logical, self.slots)
            layout = [qubit for line in self._lines(self.slots) for qubit in line]
            self.packed_isa = self._transpile(self.packed.circuit, layout or None)
            self._check_parameters(self.packed_isa, self.packed.circuit)
            self.slot_qubits = [measured_qubits(self.packed_isa, name) for name in self.packed.register_names]
        else:
            self.slot_qubits = [self.measured_qubits]
        if self.packed is None and self.shots is not None:
            self.qnn = self._sampler_qnn()

    def _lines(self, count: int) -> list[list[int]]:
        return layer_lines(self.backend, self.num_qubits, count, self.line_usage)

    @functools.cached_property
    def line_usage(self) -> LineUsage | None:
        """What the measured circuit does per qubit-line position: lines are chosen by its success probability."""
        return layer_usage(self.logical, self.backend, self.optimization_level, self.seed)

    def _slots(self, wanted: int | None, max_width: int | None) -> int:
        return packing_slots(self.backend, self.num_qubits, wanted, max_width, self.line_usage)

    def _transpile(self, circuit: QuantumCircuit, layout: list[int] | None) -> QuantumCircuit:
        if self.backend is None:
            return circuit
        return transpile_isa(circuit, self.backend, self.optimization_level, initial_layout=layout,
                             seed_transpiler=self.seed)

    @staticmethod
    def _check_parameters(isa: QuantumCircuit, logical: QuantumCircuit) -> None:
        if list(isa.parameters) != list(logical.parameters):
            raise UnsupportedCircuitError(
                f"transpiling {logical.name!r} changed its parameters ({isa.num_parameters} of "
                f"{logical.num_parameters} left); lower the optimization level"
            )

    def _sampler_qnn(self) -> Any:
        from qiskit_machine_learning.neural_networks import SamplerQNN

        return SamplerQNN(
            circuit=without_layout(self.isa), sampler=self.sampler, input_params=list(self.isa.parameters),
            weight_params=[], interpret=_identity, output_shape=2**self.num_qubits, input_gradients=True,
        )

    # -- evaluation ----------------------------------------------------------------------------------------------
    def _run_exact(self, values: np.ndarray) -> np.ndarray:
        binds = {p: values[:, i] for i, p in enumerate(self._exact_circuit.parameters)}
        result = self._simulator.run(self._exact_circuit, parameter_binds=[binds] if binds else None).result()
        self._aer_runs += 1
        self._aer_circuits += len(values)
        if not result.success:
            raise RuntimeError(f"Aer simulation failed: {result.status}")
        return np.stack([np.asarray(result.data(i)["probabilities"]) for i in range(len(values))])

    def _sample_exact(self, values: np.ndarray) -> np.ndarray:
        """``shots`` shots per parameter set, drawn from Aer's exact probabilities (see ``fast_sampling``)."""
        exact = np.clip(self._run_exact(values), 0.0, None)
        self._aer_shots += len(values) * self.shots
        counts = self._shots_rng.multinomial(self.shots, exact / exact.sum(axis=1, keepdims=True))
        return counts / self.shots

    def evaluate(self, values: np.ndarray) -> np.ndarray:
        """Probabilities ``[M, 2**n]`` of M parameter sets in ONE sampler call (the gradient path)."""
        if self.sampler is None:
            return self._run_exact(values)
        if self.fast_sampling:
            return self._mitigated(self._sample_exact(values), self.measured_qubits)
        if self.packed is not None:
            rows = self.packed.parameter_values(values)
            result = self.sampler.run([(self.packed_isa, rows)]).result()[0]
            slots = marginal_probabilities(result, self.slots)
            slots = np.stack([self._mitigated(slots[:, k], qubits) for k, qubits in enumerate(self.slot_qubits)], 1)
            return self.packed.unpack(slots, len(values))
        result = self.sampler.run([(self.isa, values)]).result()[0]
        return self._mitigated(bitarray_probabilities(result.data.meas), self.measured_qubits)

    def _mitigated(self, probs: np.ndarray, qubits: list[int]) -> np.ndarray:
        """Sampled rows ``[M, 2**n]`` measured on ``qubits``, readout-mitigated when the engine mitigates."""
        return probs if self.mitigation is None else self.mitigation.apply(probs, qubits, self.shots)

    def forward_values(self, values: np.ndarray) -> np.ndarray:
        """Forward probabilities ``[B, 2**n]``: through SamplerQNN when unpacked with shots, else ``evaluate``."""
        before = self.circuits_total
        if self.qnn is None:
            probs = self.evaluate(values)
        else:
            sampled = np.asarray(self.qnn.forward(values, None), dtype=np.float64)
            probs = self._mitigated(sampled.reshape(len(values), -1), self.measured_qubits)
        self.circuits_per_forward = self.circuits_total - before
        return np.asarray(probs, dtype=np.float64).reshape(len(values), 2**self.num_qubits)

    def vector_jacobian(self, theta: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        """``grad_output [B, 2**n]`` · ∂p/∂θ → ``[B, P]`` by the engine's gradient method in one sampler call."""
        before = self.circuits_total
        if self.gradient == "param-shift":
            grad = np.einsum("bk,bkp->bp", grad_output, param_shift_jacobian(self.evaluate, theta))
        else:
            grad = spsa_vjp(self.evaluate, theta, grad_output, self.spsa_epsilon, self.spsa_samples, self._rng)
        self.circuits_per_backward = self.circuits_total - before
        return grad

    def probabilities(self, theta: torch.Tensor) -> torch.Tensor:
        if theta.dim() != 2 or theta.shape[1] != self.num_parameters:
            raise ValueError(f"theta must have shape [B, {self.num_parameters}], got {tuple(theta.shape)}")
        return SamplerFunction.apply(theta, self)

    __call__ = probabilities

    # -- accounting ----------------------------------------------------------------------------------------------
    @property
    def sampler_calls(self) -> int:
        """Sampler and Aer calls so far: one per forward and one per backward."""
        return (self.sampler.calls if self.sampler is not None else 0) + self._aer_runs

    @property
    def circuits_total(self) -> int:
        """Circuit executions so far (parameter sets of the — possibly packed — circuit)."""
        return (self.sampler.circuits if self.sampler is not None else 0) + self._aer_circuits

    @property
    def shots_total(self) -> int:
        return (self.sampler.shots_total if self.sampler is not None else 0) + self._aer_shots

    def circuits_per_step(self, batch: int) -> tuple[int, int]:
        """(forward, backward) circuit executions of one training step for ``batch`` channels (``engines.cost``)."""
        cost = step_cost(batch, self.num_parameters, self.gradient, self.slots, self.spsa_samples)
        return cost.forward, cost.backward

    def close(self) -> None:
        """Mark the engine closed and call ``on_close`` once; the sampler itself belongs to the backend session."""
        if self.closed:
            return
        self.closed = True
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()

    @property
    def isa_circuit(self) -> QuantumCircuit:
        """The circuit the backend runs (the packed one when packing)."""
        return self.packed_isa if self.packed is not None else self.isa

    def __repr__(self) -> str:
        backend = getattr(self.backend, "name", None) or (type(self.backend).__name__ if self.backend else None)
        mode = "exact" if self.shots is None else f"shots={self.shots}"
        return (f"SamplerEngine(n={self.num_qubits}, P={self.num_parameters}, backend={backend}, {mode}, "
                f"gradient={self.gradient}, slots={self.slots}, mitigation={self.mitigation})")
