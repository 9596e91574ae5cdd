"""Device noise in the torch engine: the exact noisy probabilities of a layer's ISA circuit, differentiable.

For each qubit line the sampler path would use (``backends.noise.placement_lines``) the logical circuit is
transpiled as the sampler engine transpiles it (``transpile_isa``: same initial layout, optimization level and
seed) and simulated as a batched density matrix over the qubits it touches, the way Aer's density-matrix method
runs the device's ``NoiseModel.from_backend``: each instruction's unitary, then the quantum error Aer attaches to
that instruction on those physical qubits (depolarizing composed with thermal relaxation from T1/T2 and the gate's
duration), as a superoperator; at the end the per-qubit readout confusion on the measured bits. The ISA is not
scheduled, so — as in Aer — idle qubits get no relaxation. ``rz`` angles are affine in the channel's parameters
(``θ + π`` and the like after transpiling) and stay differentiable.

Single-qubit channels are fused per qubit (a 4x4 superoperator per channel, batched when parametrized) and folded
into the next two-qubit gate's 16x16 superoperator; the last ones fold into the measurement (``density.measure``).
So the state is touched once per two-qubit gate, by one matmul on a view of it (``density``'s digit layout, with
logical neighbours on neighbouring digits). Everything is computed in the Pauli basis (Pauli transfer matrices):
real vectors and real matrices, a quarter of the complex arithmetic. A density matrix costs 4**m per channel (and
autograd keeps one per two-qubit gate), so circuits are limited to ``MAX_DENSITY_QUBITS`` qubits.

Channel c of a batch (row c of ``theta``) runs on line ``c mod L``, as packed channels do on hardware (the packed
circuit puts channel c in slot ``c mod slots``, slot k on line k); unpacked there is one line and every channel
uses it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from qiskit.circuit import ParameterExpression, QuantumCircuit
from qiskit.quantum_info import Operator, SuperOp

from ..circuits.transpile import transpile_isa
from . import density
from . import gates as G
from .base import UnsupportedCircuitError
from .sampler import measured_qubits

if TYPE_CHECKING:
    from ..backends.noise import DeviceNoise

log = logging.getLogger(__name__)

MAX_DENSITY_QUBITS = 8
"""Widest ISA circuit simulated as a density matrix: 4**8 real entries per channel in the Pauli basis (256
channels: 67 MB in float32 per state, and autograd keeps one state per two-qubit gate)."""


@dataclass
class Step:
    """A gate without parameters on local ``qubits`` (most significant first): its Pauli transfer matrix (digit
    order) with Aer's error for it composed after."""

    qubits: tuple[int, ...]
    fixed: np.ndarray


@dataclass
class Rotation:
    """A parametrized single-qubit gate: its angle is ``angles[:, row]``; ``error``: Aer's error after it (Pauli
    transfer matrix) or None."""

    qubit: int
    name: str
    row: int
    error: np.ndarray | None


@dataclass
class LineProgram:
    """A compiled ISA circuit on one line: ops in order, the affine angle table and the measurement functionals.

    Local qubit i is physical ``physical[i]``: the measured qubits first in logical order (so a chain of gates
    between logical neighbours acts on neighbouring digits), then any other qubit the circuit touches."""

    isa: QuantumCircuit
    physical: list[int]
    num_measured: int
    ops: list[Step | Rotation]
    angle_slopes: np.ndarray  # [G, P]: angle g = theta @ slopes[g] + offsets[g]
    angle_offsets: np.ndarray  # [G]
    functionals: list[np.ndarray]  # per local qubit: [outcomes, 4] (readout @ diagonal, or the trace), Pauli basis
    _device_cache: dict = field(default_factory=dict)

    @property
    def measured_physical(self) -> list[int]:
        """The physical qubit of each logical bit."""
        return self.physical[: self.num_measured]


def _affine(expression: ParameterExpression, parameter_index: dict, gate: str) -> tuple[np.ndarray, float]:
    """(slopes over the circuit's parameters, offset) of an angle that is affine in them; else an error."""
    slopes = np.zeros(len(parameter_index))
    try:
        for parameter in expression.parameters:
            slopes[parameter_index[parameter]] = float(expression.gradient(parameter))
        offset = float(expression.bind({p: 0.0 for p in expression.parameters}))
    except TypeError:  # a derivative that still depends on parameters
        raise UnsupportedCircuitError(
            f"--noise: gate {gate!r} has angle {expression}, not affine in the parameters; the noisy torch engine "
            "needs affine angles"
        ) from None
    return slopes, offset


def _local_order(isa: QuantumCircuit) -> tuple[list[int], int]:
    """Physical qubits in simulation order (measured ones in logical order first) and how many are measured."""
    measured = measured_qubits(isa)
    active = {isa.find_bit(q).index for instruction in isa.data if instruction.operation.name != "barrier"
              for q in instruction.qubits}
    order = measured + sorted(active.difference(measured))
    if len(order) > MAX_DENSITY_QUBITS:
        raise UnsupportedCircuitError(
            f"--noise: a {len(measured)}-qubit layer circuit touching {len(order)} device qubits is too wide for the "
            f"exact density-matrix engine (at most {MAX_DENSITY_QUBITS}); use --mapping chunked or a larger --chunk "
            "for fewer qubits per layer"
        )
    return order, len(measured)


def compile_line(isa: QuantumCircuit, noise: DeviceNoise, parameters: list) -> LineProgram:
    """Translate an ISA circuit (with its final measurements) into Pauli transfer matrices in digit order (see
    ``density``)."""
    physical, num_measured = _local_order(isa)
    noise.model_for(physical)  # one noise model for the whole line
    local = {q: i for i, q in enumerate(physical)}
    parameter_index = {p: i for i, p in enumerate(parameters)}
    ops: list[Step | Rotation] = []
    open_step: dict[int, Step] = {}  # per local qubit: its latest fixed single-qubit step, still extendable
    slopes, offsets = [], []
    for instruction in isa.data:
        operation, name = instruction.operation, instruction.operation.name
        qubits = tuple(isa.find_bit(q).index for q in instruction.qubits)
        if name in ("barrier", "measure"):
            continue
        if name == "delay":  # Aer would add thermal relaxation for the delay; unscheduled ISA circuits have none
            raise UnsupportedCircuitError("--noise: scheduled circuits (delays) are not supported")
        ranks = [local[q] for q in qubits]
        error = noise.channel(name, qubits)
        symbolic = [p for p in operation.params if isinstance(p, ParameterExpression) and p.parameters]
        if symbolic:
            if len(qubits) != 1 or name not in G.ROTATIONS_1Q:
                raise UnsupportedCircuitError(
                    f"--noise: parametrized gate {name!r} on {len(qubits)} qubits is not supported "
                    f"(parametrized gates: {', '.join(G.ROTATIONS_1Q)})"
                )
            row_slopes, offset = _affine(symbolic[0], parameter_index, name)
            slopes.append(row_slopes)
            offsets.append(offset)
            digit_error = None if error is None else density.to_pauli(density.digit_superop(error, ranks))
            ops.append(Rotation(ranks[0], name, len(offsets) - 1, digit_error))
            open_step.pop(ranks[0], None)
            continue
        superop = SuperOp(Operator(operation)).data
        superop = superop if error is None else error @ superop
        digit = density.to_pauli(density.digit_superop(superop, ranks))
        if len(ranks) == 1 and ranks[0] in open_step:  # consecutive fixed gates on a qubit: one matrix
            open_step[ranks[0]].fixed = digit @ open_step[ranks[0]].fixed
            continue
        ops.append(Step(tuple(sorted(ranks, reverse=True)), digit))
        for rank in ranks:
            open_step.pop(rank, None)
        if len(ranks) == 1:
            open_step[ranks[0]] = ops[-1]
    functionals = [noise.readout(q).T @ density.DIAGONAL for q in physical[:num_measured]]
    functionals += [density.TRACE] * (len(physical) - num_measured)
    functionals = [density.to_pauli(f, side="right") for f in functionals]
    return LineProgram(isa, physical, num_measured, ops, np.array(slopes).reshape(len(offsets), len(parameters)),
                       np.array(offsets, dtype=float), functionals)


def _on_device(program: LineProgram, dtype: torch.dtype,
               device: torch.device) -> tuple[list, list, torch.Tensor, torch.Tensor]:
    """The program's fixed (real) matrices as tensors on ``device``, built once per (device, dtype)."""
    key = (device, dtype)
    if key not in program._device_cache:
        def tensor(value: np.ndarray | None) -> torch.Tensor | None:
            return None if value is None else torch.as_tensor(value, dtype=dtype, device=device)

        program._device_cache[key] = (
            [tensor(op.fixed if isinstance(op, Step) else op.error) for op in program.ops],
            [tensor(f) for f in program.functionals],
            tensor(program.angle_slopes), tensor(program.angle_offsets),
        )
    return program._device_cache[key]


def _rotation_superops(program: LineProgram, angles: torch.Tensor, matrices: list,
                       complex_dtype: torch.dtype) -> torch.Tensor:
    """Every parametrized gate's Pauli transfer matrix (with its error) for the batch, ``[B, G, 4, 4]`` real, in
    few torch ops (the 2x2 unitaries in ``complex_dtype``)."""
    rotations = [op for op in program.ops if isinstance(op, Rotation)]
    errors = {op.row: matrix for op, matrix in zip(program.ops, matrices) if isinstance(op, Rotation)}
    parts, rows = [], []
    for name in sorted({op.name for op in rotations}):
        group = [op.row for op in rotations if op.name == name]
        superops = density.unitary_pauli(G.rotation_matrix(name, angles[:, group], complex_dtype), angles.dtype)
        if any(errors[row] is not None for row in group):
            eye = torch.eye(4, dtype=angles.dtype, device=angles.device)
            superops = torch.stack([eye if errors[row] is None else errors[row] for row in group]) @ superops
        parts.append(superops)
        rows += group
    if not parts:
        return angles.new_zeros(angles.shape[0], 0, 4, 4)
    order = torch.argsort(torch.tensor(rows, device=angles.device))
    return torch.cat(parts, dim=1).index_select(1, order)


def run_line(program: LineProgram, theta: torch.Tensor, complex_dtype: torch.dtype) -> torch.Tensor:
    """Noisy measured probabilities ``[B, 2**n]`` (logical bit order) of one line for ``theta [B, P]``."""
    device, batch = theta.device, theta.shape[0]
    matrices, functionals, slopes, offsets = _on_device(program, theta.dtype, device)
    rotations = _rotation_superops(program, theta @ slopes.T + offsets, matrices, complex_dtype)  # [B, G, 4, 4]
    x = density.pauli_zero_state(batch, len(program.physical), theta.dtype, device)
    pending: dict[int, torch.Tensor] = {}  # fused single-qubit transfer matrices not yet applied, per local qubit
    eye = torch.eye(4, dtype=theta.dtype, device=device)

    def fuse(qubit: int, superop: torch.Tensor) -> None:
        pending[qubit] = superop if qubit not in pending else superop @ pending[qubit]

    for op, matrix in zip(program.ops, matrices):
        if isinstance(op, Rotation):
            fuse(op.qubit, rotations[:, op.row])
        elif len(op.qubits) == 1:
            fuse(op.qubits[0], matrix)
        elif len(op.qubits) == 2 and op.qubits[0] == op.qubits[1] + 1:  # neighbours: fold pending gates in
            high, low = op.qubits
            if high in pending or low in pending:
                matrix = matrix @ density.join_digits(pending.pop(high, eye), pending.pop(low, eye))
            x = density.apply_superop(x, matrix, op.qubits)
        else:
            for qubit in op.qubits:
                if qubit in pending:
                    x = density.apply_superop(x, pending.pop(qubit), (qubit,))
            x = density.apply_superop(x, matrix, op.qubits)
    final = []
    for qubit, functional in enumerate(functionals):  # the last single-qubit gates fold into the measurement
        if qubit in pending:
            functional = (functional @ pending[qubit]).unsqueeze(1) if pending[qubit].dim() == 3 else \
                functional @ pending[qubit]
        final.append(functional)
    return density.measure(x, final)


class NoisyDensityMatrixEngine:
    """Exact noisy probabilities ``[B, 2**n]`` of ``circuit`` on a device's qubit ``lines`` (see module doc).

    ``noise``: the device and its Aer noise model (``backends.noise.DeviceNoise``). ``lines``: physical qubits per
    line (``lines[k][i]`` hosts logical qubit i; ``None`` lets the transpiler choose). ``dtype``: the real dtype
    computed in (None: ``theta``'s if float64, else float32). ``shots``: the forward value becomes a ``shots``-shot
    estimate of the noisy probabilities (straight-through, the shots path's sampler), the gradient stays exact.
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        noise: DeviceNoise,
        lines: list[list[int] | None],
        optimization_level: int = 1,
        seed: int = 0,
        shots: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if not lines:
            raise ValueError("NoisyDensityMatrixEngine needs at least one line (None: the transpiler's layout)")
        self.circuit = circuit
        self.logical = circuit.remove_final_measurements(inplace=False) if circuit.num_clbits else circuit
        self.num_qubits = self.logical.num_qubits
        self.num_parameters = self.logical.num_parameters
        self.noise, self.lines, self.dtype, self.shots = noise, list(lines), dtype, shots
        measured = self.logical.copy()
        measured.measure_all()
        parameters = list(self.logical.parameters)
        self.programs: list[LineProgram] = []
        for line in self.lines:
            isa = transpile_isa(measured, noise.device, optimization_level, initial_layout=line, seed_transpiler=seed)
            if list(isa.parameters) != parameters:
                raise UnsupportedCircuitError(
                    f"--noise: transpiling {self.logical.name!r} changed its parameters; lower --optimization-level"
                )
            self.programs.append(compile_line(isa, noise, parameters))
        self._sampler = None
        if shots is not None:
            from .shots import ShotsStatevectorEngine

            self._sampler = ShotsStatevectorEngine(self.logical, shots, seed=seed)
        log.debug("%r", self)

    @property
    def isa_circuits(self) -> list[QuantumCircuit]:
        """The ISA circuit of each line (with its measurements), as the sampler path would run it."""
        return [program.isa for program in self.programs]

    def exact_probabilities(self, theta: torch.Tensor) -> torch.Tensor:
        """The noisy probabilities without shot sampling (differentiable)."""
        if theta.dim() != 2 or theta.shape[1] != self.num_parameters:
            raise ValueError(f"theta must have shape [B, {self.num_parameters}], got {tuple(theta.shape)}")
        real = self.dtype or (theta.dtype if theta.dtype == torch.float64 else torch.float32)
        theta = theta.to(real)
        complex_dtype = torch.complex128 if real == torch.float64 else torch.complex64
        count = min(len(self.programs), theta.shape[0])
        if count == 1:
            return run_line(self.programs[0], theta, complex_dtype)
        rows = [torch.arange(k, theta.shape[0], len(self.programs), device=theta.device) for k in range(count)]
        parts = [run_line(self.programs[k], theta.index_select(0, rows[k]), complex_dtype) for k in range(count)]
        order = torch.argsort(torch.cat(rows))
        return torch.cat(parts).index_select(0, order)

    def probabilities(self, theta: torch.Tensor) -> torch.Tensor:
        exact = self.exact_probabilities(theta)
        if self._sampler is None:
            return exact
        return exact + (self._sampler.sample(exact) - exact).detach()

    __call__ = probabilities

    def __repr__(self) -> str:
        lines = "; ".join(",".join(map(str, p.measured_physical)) for p in self.programs[:3])
        more = f" (+{len(self.programs) - 3} lines)" if len(self.programs) > 3 else ""
        shots = f", shots={self.shots}" if self.shots else ""
        return (f"NoisyDensityMatrixEngine({self.noise.name}, n={self.num_qubits}, P={self.num_parameters}, "
                f"qubits {lines}{more}{shots})")
