"""Exact batched statevector engine in torch, compiled from a Qiskit circuit's instructions.

The circuit is compiled once into alternating *local layers* (all single-qubit gates between two entangling blocks,
fused per qubit) and *signed permutations* (runs of cx/cz/swap composed into one index map). A local layer is applied
as a few dense Kronecker-product matmuls over qubit groups rather than one pass per qubit: on a CPU that turns a
memory-bound loop of n passes into 2-3 BLAS calls. Amplitudes stay real when every gate is real (ry, h, x, z, cx,
cz, swap), which halves memory and work against complex arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit

from . import gates as G
from ..native import statevector as native
from .base import UnsupportedCircuitError


@dataclass(frozen=True)
class GateRef:
    """One single-qubit gate of a local layer: fixed (``name`` in FIXED_1Q or a bound angle) or parametrized."""

    name: str
    param_index: int | None = None
    angle: float | None = None


@dataclass
class LocalLayer:
    gates: dict[int, list[GateRef]] = field(default_factory=dict)


@dataclass
class SignedPermutation:
    index: torch.Tensor
    sign: torch.Tensor | None = None

    def then(self, index: torch.Tensor, sign: torch.Tensor | None) -> None:
        """Compose with a permutation applied after this one: s2[i] = sign[i]·s1[index[i]]."""
        new_sign = None
        if self.sign is not None or sign is not None:
            first = self.sign[index] if self.sign is not None else torch.ones(len(index), dtype=torch.float64)
            new_sign = first * sign if sign is not None else first
        self.index = self.index[index]
        self.sign = new_sign


def _gate_angle(param: object, parameter_index: dict[Parameter, int], gate: str) -> tuple[int | None, float | None]:
    if isinstance(param, Parameter):
        return parameter_index[param], None
    if isinstance(param, ParameterExpression):
        if not param.parameters:
            return None, float(param)
        if len(param.parameters) == 1:
            (only,) = param.parameters
            if param == only:
                return parameter_index[only], None
        raise UnsupportedCircuitError(
            f"gate {gate!r} has parameter expression {param}: the torch engine supports a single parameter only"
        )
    return None, float(param)


def compile_circuit(circuit: QuantumCircuit) -> tuple[list[LocalLayer | SignedPermutation], bool]:
    """Translate instructions into ops; returns (ops, all_real)."""
    n = circuit.num_qubits
    parameter_index = {p: i for i, p in enumerate(circuit.parameters)}
    ops: list[LocalLayer | SignedPermutation] = []
    all_real = True
    for instruction in circuit.data:
        op = instruction.operation
        name = op.name
        qubits = tuple(circuit.find_bit(q).index for q in instruction.qubits)
        if name in G.IGNORED:
            continue
        if name in G.PERMUTATION_2Q:
            index, sign = G.permutation_2q(name, qubits, n)
            if ops and isinstance(ops[-1], SignedPermutation):
                ops[-1].then(index, sign)
            else:
                ops.append(SignedPermutation(index, sign))
            continue
        if name in G.FIXED_1Q:
            ref = GateRef(name)
            all_real &= G.is_real_fixed(name)
        elif name in G.ROTATIONS_1Q:
            param_index, angle = _gate_angle(op.params[0], parameter_index, name)
            ref = GateRef(name, param_index, angle)
            all_real &= name in G.REAL_ROTATIONS
        else:
            raise UnsupportedCircuitError(
                f"unsupported gate {name!r} in circuit {circuit.name!r}; the torch engine runs {', '.join(G.SUPPORTED)}"
            )
        if not ops or not isinstance(ops[-1], LocalLayer):
            ops.append(LocalLayer())
        ops[-1].gates.setdefault(qubits[0], []).append(ref)
    return ops, all_real


def default_group_count(num_qubits: int) -> int:
    """How many qubit groups a local layer is split into.

    Building a group's operator costs ~4**g per batch entry and applying it ~2**n * 2**g, so groups must stay well
    below n/2 qubits; fewer groups means fewer passes over the state. Measured on a 2-core CPU (forward+backward,
    reps 3): ~3 qubits a group is fastest up to n=10, ~4-5 qubits a group above.
    """
    if num_qubits <= 10:
        return max(1, math.ceil(num_qubits / 3))
    return math.ceil(num_qubits / 5)


def _qubit_groups(num_qubits: int, count: int) -> list[range]:
    """Split qubits 0..n-1 into ``count`` near-equal contiguous groups (low qubits first)."""
    count = max(1, min(count, num_qubits))
    bounds = [round(i * num_qubits / count) for i in range(count + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(count)]


def _kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched Kronecker product of ``[..., m, m]`` and ``[..., k, k]`` (a acts on the more significant qubits)."""
    m, k = a.shape[-1], b.shape[-1]
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    out = a[..., :, None, :, None] * b[..., None, :, None, :]
    return out.reshape(*batch, m * k, m * k)


def _uniform_rotation(ops: list, num_qubits: int) -> tuple[str, torch.Tensor] | None:
    """(gate name, parameter columns [L, n]) when every local layer is one parametrized rotation of the same kind on
    every qubit; None otherwise. For the kernel, building ~L*n small matrices one by one costs more than the kernel
    itself on small layers."""
    names, columns = set(), []
    for op in ops:
        if not isinstance(op, LocalLayer):
            continue
        row = []
        for q in range(num_qubits):
            gates = op.gates.get(q, [])
            if len(gates) != 1 or gates[0].param_index is None:
                return None
            names.add(gates[0].name)
            row.append(gates[0].param_index)
        columns.append(row)
    return (names.pop(), torch.tensor(columns)) if len(names) == 1 else None


class StatevectorEngine:
    """Exact, differentiable probabilities of a circuit for a batch of parameter sets (CPU or CUDA)."""

    def __init__(
        self,
        circuit: QuantumCircuit,
        dtype: torch.dtype = torch.float32,
        group_count: int | None = None,
        use_native: bool = True,
    ) -> None:
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.circuit = circuit
        self.num_qubits = circuit.num_qubits
        self.num_parameters = circuit.num_parameters
        self.dtype = dtype
        self.ops, self.is_real = compile_circuit(circuit)
        self.amplitude_dtype = dtype if self.is_real else (torch.complex64 if dtype == torch.float32 else torch.complex128)
        self.groups = _qubit_groups(self.num_qubits, group_count or default_group_count(self.num_qubits))
        self._device_cache: dict[torch.device, list] = {}
        self.use_native = use_native  # False: always the torch path (the kernel's reference in tests/benchmarks)
        self._kernel_plan: native.KernelPlan | None = None
        self._uniform_rotation = _uniform_rotation(self.ops, self.num_qubits)

    def uses_native_kernel(self, device: torch.device | str = "cpu") -> bool:
        """Whether probabilities on ``device`` run the fused CPU kernel (real circuits on CPU, kernel built)."""
        return (self.use_native and self.is_real and torch.device(device).type == "cpu"
                and native.load_kernel() is not None)

    # -- public API ---------------------------------------------------------------------------------------------
    def probabilities(self, theta: torch.Tensor) -> torch.Tensor:
        if theta.dim() != 2 or theta.shape[1] != self.num_parameters:
            raise ValueError(f"theta must have shape [B, {self.num_parameters}], got {tuple(theta.shape)}")
        theta = theta.to(self.dtype)
        if self.uses_native_kernel(theta.device):
            return self._native_probabilities(theta)
        return self._probabilities_torch(theta)

    __call__ = probabilities

    def _probabilities_torch(self, theta: torch.Tensor) -> torch.Tensor:
        batch = theta.shape[0]
        state: torch.Tensor | None = None  # None means |0...0>
        for op, prepared in zip(self.ops, self._prepared(theta.device)):
            if isinstance(op, SignedPermutation):
                if state is not None:
                    index, sign = prepared
                    state = state.index_select(1, index)
                    if sign is not None:
                        state = state * sign
            else:
                matrices = self._layer_matrices(op, prepared, theta)
                state = self._product_state(matrices, batch) if state is None else self._apply_local(state, matrices)
        if state is None:
            state = self._product_state({}, batch)
        if state.is_complex():
            return torch.view_as_real(state).square().sum(-1)
        return state.square()

    def __repr__(self) -> str:
        kind = "real" if self.is_real else "complex"
        return f"StatevectorEngine(n={self.num_qubits}, P={self.num_parameters}, {kind}, {self.dtype})"

    # -- fused CPU kernel ---------------------------------------------------------------------------------------
    def _native_probabilities(self, theta: torch.Tensor) -> torch.Tensor:
        plan = self._plan()
        layer_count = plan.active.shape[0]
        if layer_count == 0:  # only permutations of |0...0>: one basis state, nothing to differentiate
            return self._probabilities_torch(theta)
        if self._uniform_rotation is not None:  # e.g. RY on every qubit of every layer: all matrices from one gather
            name, columns = self._uniform_rotation
            mats = G.rotation_matrix(name, theta[:, columns], self.dtype).permute(1, 0, 2, 3, 4)
        else:
            eye = torch.eye(2, dtype=self.dtype).expand(theta.shape[0], 2, 2)
            per_layer = []
            for op, fixed in zip(self.ops, self._prepared(theta.device)):
                if isinstance(op, LocalLayer):
                    matrices = self._layer_matrices(op, fixed, theta)
                    per_qubit = [matrices[q].expand(theta.shape[0], 2, 2) if q in matrices else eye
                                 for q in range(self.num_qubits)]
                    per_layer.append(torch.stack(per_qubit, dim=1))
            mats = torch.stack(per_layer)
        mats = mats.reshape(layer_count, theta.shape[0], self.num_qubits, 4)
        return native.NativeProbabilities.apply(mats, plan, native.load_kernel())

    def _plan(self) -> native.KernelPlan:
        if self._kernel_plan is None:
            local_index, perm_index, codes, active, indices, signs = 0, 0, [], [], [], []
            for op in self.ops:
                if isinstance(op, LocalLayer):
                    codes.append(local_index)
                    local_index += 1
                    active.append([q in op.gates for q in range(self.num_qubits)])
                else:
                    codes.append(-(perm_index + 1))
                    perm_index += 1
                    indices.append(op.index)
                    signs.append(op.sign)
            size = 2**self.num_qubits
            has_sign = any(s is not None for s in signs)
            self._kernel_plan = native.KernelPlan(
                num_qubits=self.num_qubits,
                ops=torch.tensor(codes, dtype=torch.int32),
                active=torch.tensor(active, dtype=torch.uint8).reshape(-1, self.num_qubits),
                perm_index=(torch.stack(indices) if indices else torch.zeros(1, size, dtype=torch.int64)).contiguous(),
                perm_sign=torch.stack([torch.ones(size, dtype=torch.float64) if s is None else s for s in signs])
                .to(self.dtype).contiguous() if has_sign else None,
            )
        return self._kernel_plan

    # -- compiled pieces ----------------------------------------------------------------------------------------
    def _prepared(self, device: torch.device) -> list:
        """Device copies of permutation indices and fixed matrices, built once per device."""
        if device not in self._device_cache:
            prepared = []
            for op in self.ops:
                if isinstance(op, SignedPermutation):
                    sign = None if op.sign is None else op.sign.to(device=device, dtype=self.dtype)
                    prepared.append((op.index.to(device), sign))
                else:
                    fixed = {}
                    for gates in op.gates.values():
                        for ref in gates:
                            if ref.param_index is None and ref not in fixed:
                                fixed[ref] = self._fixed_gate(ref).to(device)
                    prepared.append(fixed)
            self._device_cache[device] = prepared
        return self._device_cache[device]

    def _fixed_gate(self, ref: GateRef) -> torch.Tensor:
        if ref.angle is None:
            return G.fixed_matrix(ref.name, self.amplitude_dtype)
        angle = torch.tensor(ref.angle, dtype=torch.float64)
        return G.rotation_matrix(ref.name, angle, self.amplitude_dtype)

    def _layer_matrices(self, layer: LocalLayer, fixed: dict, theta: torch.Tensor) -> dict[int, torch.Tensor]:
        """Per-qubit fused 2x2 matrices: ``[2, 2]`` when fixed, ``[B, 2, 2]`` when parametrized."""
        rotations: dict[GateRef, torch.Tensor] = {}
        by_name: dict[str, list[GateRef]] = {}
        for gates in layer.gates.values():
            for ref in gates:
                if ref.param_index is not None:
                    by_name.setdefault(ref.name, []).append(ref)
        for name, refs in by_name.items():
            columns = torch.tensor([r.param_index for r in refs], device=theta.device)
            mats = G.rotation_matrix(name, theta.index_select(1, columns), self.amplitude_dtype)
            for i, ref in enumerate(refs):
                rotations[ref] = mats[:, i]
        matrices = {}
        for qubit, gates in layer.gates.items():
            total = None
            for ref in gates:
                m = rotations[ref] if ref.param_index is not None else fixed[ref]
                total = m if total is None else m @ total
            matrices[qubit] = total
        return matrices

    def _product_state(self, matrices: dict[int, torch.Tensor], batch: int) -> torch.Tensor:
        """The layer applied to |0...0>: a Kronecker product of each qubit's first column."""
        state = None
        for qubit in range(self.num_qubits - 1, -1, -1):
            m = matrices.get(qubit)
            column = m[..., :, 0] if m is not None else self._basis0()
            if column.dim() == 1:
                column = column.unsqueeze(0)
            if state is None:
                state = column
            else:
                product = state[:, :, None] * column[:, None, :]
                state = product.reshape(product.shape[0], -1)
        return state.expand(batch, -1) if state.shape[0] != batch else state

    def _basis0(self) -> torch.Tensor:
        return torch.tensor([1.0, 0.0], dtype=self.amplitude_dtype)

    def _group_operator(self, group: range, matrices: dict[int, torch.Tensor]) -> torch.Tensor | None:
        if not any(q in matrices for q in group):
            return None
        eye = None
        operator = None
        for qubit in reversed(group):  # most significant qubit first
            m = matrices.get(qubit)
            if m is None:
                if eye is None:
                    ref = next(iter(matrices.values()))
                    eye = torch.eye(2, dtype=ref.dtype, device=ref.device)
                m = eye
            operator = m if operator is None else _kron(operator, m)
        return operator

    def _apply_local(self, state: torch.Tensor, matrices: dict[int, torch.Tensor]) -> torch.Tensor:
        batch, n = state.shape[0], self.num_qubits
        state = state.to(self.amplitude_dtype) if state.dtype != self.amplitude_dtype else state
        for group in self.groups:
            operator = self._group_operator(group, matrices)
            if operator is None:
                continue
            g, low = len(group), group.start
            high = n - low - g
            size, low_dim, high_dim = 2**g, 2**low, 2**high
            if operator.dim() == 2:
                operator = operator.unsqueeze(0)
            if low == 0:
                state = (state.view(batch, high_dim, size) @ operator.transpose(-1, -2)).reshape(batch, -1)
            elif high == 0:
                state = (operator @ state.view(batch, size, low_dim)).reshape(batch, -1)
            else:
                x = state.view(batch, high_dim, size, low_dim).transpose(1, 2).reshape(batch, size, -1)
                x = operator @ x
                state = x.view(batch, size, high_dim, low_dim).transpose(1, 2).reshape(batch, -1)
        return state
