"""Packing: several channels' circuits side by side in one wide circuit, so the same shots serve all of them.

Slot k is a copy of the circuit on qubits ``[k*n, (k+1)*n)`` with its own ParameterVector, measured into its own
classical register ``c{k}``; the registers are measured in the *logical* circuit, so after transpilation each one
still reads its slot's logical qubits in order, wherever the layout put them. Per-slot probabilities are the
marginal counts of each register. On a device each slot goes on its own qubit line (``find_line_layouts``), so a
linear ansatz needs no SWAPs and slots never share a two-qubit gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.circuit import ClassicalRegister, ParameterVector, QuantumCircuit

from .ansatz import AnsatzSpec, build_ansatz
from .transpile import SIMULATOR_WIDTH_LIMIT, LineUsage, coupling_edges, find_line_layouts


@dataclass(frozen=True)
class PackedCircuit:
    """A logical wide circuit of ``slots`` copies of an n-qubit circuit, each measured into register ``c{k}``."""

    circuit: QuantumCircuit
    slots: int
    num_qubits: int
    parameters_per_slot: int
    column_order: np.ndarray
    """For each parameter of ``circuit`` (in ``circuit.parameters`` order) its flat index ``slot * P + j``."""

    @property
    def register_names(self) -> list[str]:
        return [f"c{k}" for k in range(self.slots)]

    def packed_rows(self, batch: int) -> int:
        """Wide-circuit parameter sets needed for ``batch`` per-channel parameter sets."""
        return math.ceil(batch / self.slots)

    def parameter_values(self, theta: Any) -> np.ndarray:
        """Per-channel rows ``[B, P]`` (base circuit's parameter order) → packed rows ``[ceil(B/slots), slots*P]``.

        Row r of the result carries channels ``r*slots … r*slots+slots-1`` in slots 0…slots-1; missing channels of
        the last row are zero angles, whose outputs the caller drops (``unpack``).
        """
        values = np.asarray(theta, dtype=float)
        if values.ndim != 2 or values.shape[1] != self.parameters_per_slot:
            raise ValueError(f"theta must have shape [B, {self.parameters_per_slot}], got {tuple(values.shape)}")
        rows = self.packed_rows(values.shape[0])
        padded = np.zeros((rows * self.slots, self.parameters_per_slot))
        padded[: values.shape[0]] = values
        return padded.reshape(rows, self.slots * self.parameters_per_slot)[:, self.column_order]

    def unpack(self, slot_probabilities: np.ndarray, batch: int) -> np.ndarray:
        """``[rows, slots, 2**n]`` per-slot probabilities → ``[batch, 2**n]`` in channel order."""
        return slot_probabilities.reshape(-1, 2**self.num_qubits)[:batch]


def pack_circuit(circuit: QuantumCircuit, slots: int) -> PackedCircuit:
    """``slots`` copies of ``circuit`` (final measurements dropped) on consecutive qubit blocks, measured per slot."""
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    base = circuit.remove_final_measurements(inplace=False) if circuit.num_clbits else circuit
    n, parameters = base.num_qubits, list(base.parameters)
    wide = QuantumCircuit(n * slots, name=f"{base.name}_x{slots}")
    flat_index = {}
    for k in range(slots):
        vector = ParameterVector(f"s{k}", len(parameters))
        copy = base.assign_parameters(dict(zip(parameters, vector)))
        qubits = list(range(k * n, (k + 1) * n))
        wide.compose(copy, qubits=qubits, inplace=True)
        register = ClassicalRegister(n, f"c{k}")
        wide.add_register(register)
        wide.measure(qubits, register)
        flat_index.update({element: k * len(parameters) + j for j, element in enumerate(vector)})
    order = np.array([flat_index[p] for p in wide.parameters], dtype=np.int64)
    return PackedCircuit(wide, slots, n, len(parameters), order)


def pack_ansatz(spec: AnsatzSpec, slots: int) -> PackedCircuit:
    """``pack_circuit`` of the ansatz ``spec`` describes."""
    return pack_circuit(build_ansatz(spec), slots)


def max_slots(backend: Any, num_qubits: int, usage: LineUsage | None = None) -> int:
    """How many n-qubit circuits fit side by side on ``backend``: its disjoint qubit lines (at least 1).

    A backend without a coupling map (a simulator) takes ``SIMULATOR_WIDTH_LIMIT // n`` slots: a wider statevector
    costs more memory and time than the shots it saves. A device without any n-qubit line still runs one circuit
    (with routing). ``usage``: the circuit's (``transpile.circuit_usage``), so the count is that of the lines its
    engine will search.
    """
    if coupling_edges(backend) is None:
        return max(1, SIMULATOR_WIDTH_LIMIT // num_qubits)
    return max(1, len(find_line_layouts(backend, num_qubits, usage=usage)))


def bitarray_probabilities(bits: Any, qubits: list[int] | None = None) -> np.ndarray:
    """Outcome frequencies ``[*shape, 2**k]`` of a sampler ``BitArray``, vectorized.

    ``qubits``: the bits (register positions) forming the outcome index, bit ``qubits[i]`` → index bit i; all
    register bits in order by default. Qiskit bit order: register bit 0 is the least significant bit of the index.
    """
    packed = np.asarray(bits.array)  # [*shape, shots, bytes], big-endian: bit 0 is the lowest bit of the last byte
    positions = list(range(bits.num_bits)) if qubits is None else list(qubits)
    if len(positions) > 30:
        raise ValueError(f"cannot tabulate {len(positions)}-bit outcomes (2**{len(positions)} probabilities)")
    last = packed.shape[-1] - 1
    index = np.zeros(packed.shape[:-1], dtype=np.int64)
    for i, position in enumerate(positions):
        index |= ((packed[..., last - position // 8] >> (position % 8)) & 1).astype(np.int64) << i
    shape, shots = index.shape[:-1], index.shape[-1]
    size = 2 ** len(positions)
    rows = int(np.prod(shape, dtype=np.int64))
    offsets = (np.arange(rows, dtype=np.int64) * size)[:, None]
    counts = np.bincount((index.reshape(rows, shots) + offsets).ravel(), minlength=rows * size)
    return counts.reshape(*shape, size) / shots


def marginal_probabilities(result: Any, slots: int | None = None) -> np.ndarray:
    """Per-slot probabilities ``[*pub_shape, slots, 2**n]`` from one sampler PUB result of a packed circuit.

    ``result``: a ``SamplerPubResult`` (or its ``DataBin``) with one register ``c{k}`` per slot. ``slots`` defaults
    to the number of ``c{k}`` registers found.
    """
    data = getattr(result, "data", result)
    if slots is None:
        slots = sum(1 for name in dict(data.items()) if name.startswith("c") and name[1:].isdigit())
    try:
        registers = [data[f"c{k}"] for k in range(slots)]
    except KeyError as exc:
        raise ValueError(f"sampler result has no register {exc} of a {slots}-slot packed circuit") from None
    return np.stack([bitarray_probabilities(register) for register in registers], axis=-2)
