"""Batched density matrices in torch, laid out so that a gate on neighbouring qubits is one matmul on a view.

A density matrix ``rho[r, c]`` over m qubits is stored as a vector ``[B, 4**m]`` of *digits*: qubit q is the
base-4 digit q (value ``2 * r_q + c_q``), qubit 0 least significant. A channel on qubit q, or on neighbours q and
q+1, then acts on one contiguous axis of ``x.view(B, high, 4**k, low)`` — no transpose of the state, which on a CPU
costs more than the arithmetic. Channels are superoperators in this digit order (``digit_superop`` converts Qiskit's
column-stacked ``SuperOp.data``). Measurement contracts each digit with a ``[outcomes, 4]`` functional: the diagonal
(``r == c``), times the readout confusion for a measured qubit, or the trace for an unmeasured one. Everything is
plain torch: differentiable, on any device, in any dtype.

The same layout holds in the *Pauli basis* (each digit the coefficients of I, X, Y, Z: the Pauli transfer matrix
picture): ``PAULI`` maps a digit's ``(r, c)`` entries to ``(tr rho, <X>, <Y>, <Z>)``. There a Hermitian state is a
real vector and every channel a real matrix, so the noisy engine computes in real arithmetic: a quarter of the
multiplications of the complex digit basis and half the memory, with the same operations (``to_pauli``,
``pauli_zero_state``, ``unitary_pauli`` convert).
"""

from __future__ import annotations

import numpy as np
import torch

DIAGONAL = np.array([[1, 0, 0, 0], [0, 0, 0, 1]], dtype=complex)  # digit (r, c) -> outcome r where r == c
TRACE = np.array([[1, 0, 0, 1]], dtype=complex)
PAULI = np.array([[1, 0, 0, 1], [0, 1, 1, 0], [0, 1j, -1j, 0], [1, 0, 0, -1]])  # digit (r, c) -> (I, X, Y, Z)
PAULI_INVERSE = PAULI.conj().T / 2


def digit_superop(superop: np.ndarray, ranks: list[int]) -> np.ndarray:
    """A Qiskit superoperator on k qubits (``[4**k, 4**k]``, column-stacked, instruction qubit 0 least significant)
    in digit order: ``ranks[j]`` is instruction qubit j's place among them in the state (0 = least significant)."""
    k = len(ranks)
    by_place = sorted(range(k), key=lambda j: ranks[j], reverse=True)  # most significant digit first
    axes = [a for j in by_place for a in (2 * k - 1 - j, k - 1 - j)]  # (row bit, col bit) of each qubit
    tensor = np.asarray(superop).reshape([2] * (4 * k))
    return tensor.transpose(axes + [2 * k + a for a in axes]).reshape(4**k, 4**k)


def unitary_superop(unitary: torch.Tensor) -> torch.Tensor:
    """Single-qubit unitaries ``[..., 2, 2]`` → digit superoperators ``[..., 4, 4]`` (rho → U rho U†)."""
    product = torch.einsum("...ab,...cd->...acbd", unitary, unitary.conj())
    return product.reshape(*unitary.shape[:-2], 4, 4)


def join_digits(high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
    """Single-qubit superoperators on neighbours q+1 (``high``) and q (``low``) → one ``[..., 16, 16]``."""
    product = torch.einsum("...ab,...cd->...acbd", high, low)
    return product.reshape(*product.shape[:-4], 16, 16)


def _apply_block(x: torch.Tensor, superop: torch.Tensor, low_digit: int, digits: int) -> torch.Tensor:
    batch, size = x.shape
    block = 4**digits
    view = x.view(batch, size // (block * 4**low_digit), block, 4**low_digit)
    if superop.dim() == 2:
        return (superop @ view).reshape(batch, size)
    if view.shape[-1] >= block:  # broadcasting the per-channel matrix costs less than transposing the state
        return (superop.unsqueeze(1) @ view).reshape(batch, size)
    return torch.einsum("bij,bhjl->bhil", superop, view).reshape(batch, size)


def apply_superop(x: torch.Tensor, superop: torch.Tensor, qubits: tuple[int, ...]) -> torch.Tensor:
    """The state ``x [B, 4**m]`` after ``superop`` (digit order, ``[4**k, 4**k]`` or ``[B, 4**k, 4**k]``) on
    ``qubits`` (listed most significant first, as ``digit_superop`` ordered them)."""
    k = len(qubits)
    if k == 1 or all(a == b + 1 for a, b in zip(qubits, qubits[1:])):
        return _apply_block(x, superop, qubits[-1], k)
    batch, size = x.shape
    m = (size.bit_length() - 1) // 2
    axes = [1 + (m - 1 - q) for q in qubits]
    front = list(range(1, k + 1))
    moved = x.view(batch, *[4] * m).movedim(axes, front)
    shape = moved.shape
    moved = superop.to(x.dtype) @ moved.reshape(batch, 4**k, -1)
    return moved.reshape(shape).movedim(front, axes).reshape(batch, size)


def measure(x: torch.Tensor, functionals: list[torch.Tensor]) -> torch.Tensor:
    """Outcome probabilities: digit q of ``x [B, 4**m]`` contracted with ``functionals[q]`` (``[outcomes_q, 4]``);
    the result ``[B, prod(outcomes)]`` has qubit 0's outcome least significant (real part)."""
    batch = x.shape[0]
    sizes = [4] * len(functionals)
    for q in reversed(range(len(functionals))):  # most significant first: digits above q are already contracted
        high = int(np.prod(sizes[q + 1:], dtype=np.int64))
        view = x.reshape(batch, high, 4, 4**q)
        x = functionals[q] @ view
        sizes[q] = functionals[q].shape[-2]
    return x.reshape(batch, -1).real


def _kron_power(matrix: np.ndarray, k: int) -> np.ndarray:
    result = np.ones((1, 1), dtype=matrix.dtype)
    for _ in range(k):
        result = np.kron(result, matrix)
    return result


def to_pauli(digit_matrix: np.ndarray, side: str = "both") -> np.ndarray:
    """A digit-basis superoperator (``side="both"``, ``[4**k, 4**k]``) or measurement functional (``side="right"``,
    ``[outcomes, 4**k]``) in the Pauli basis, as a real matrix (the same PAULI on every digit, so digit order is
    kept). Raises on a significant imaginary part: the channel was not Hermiticity-preserving."""
    k = (digit_matrix.shape[-1].bit_length() - 1) // 2
    result = digit_matrix @ _kron_power(PAULI_INVERSE, k)
    if side == "both":
        result = _kron_power(PAULI, k) @ result
    if np.abs(result.imag).max(initial=0.0) > 1e-8:
        raise ValueError("not a Hermiticity-preserving map: its Pauli transfer matrix is not real")
    return np.ascontiguousarray(result.real)


def pauli_zero_state(batch: int, num_qubits: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``|0...0><0...0|`` in the Pauli basis, ``[batch, 4**m]`` real: (I + Z) / 2 on every qubit, up to the factor
    that ``PAULI`` leaves out (a digit holds ``tr rho`` and the expectations)."""
    one = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=dtype, device=device)
    state = torch.ones(1, dtype=dtype, device=device)
    for _ in range(num_qubits):
        state = torch.kron(state, one)
    return state.expand(batch, -1).contiguous()


def unitary_pauli(unitary: torch.Tensor, real_dtype: torch.dtype) -> torch.Tensor:
    """Single-qubit unitaries ``[..., 2, 2]`` → Pauli transfer matrices ``[..., 4, 4]`` (real, differentiable)."""
    pauli = torch.as_tensor(PAULI, dtype=unitary.dtype, device=unitary.device)
    inverse = torch.as_tensor(PAULI_INVERSE, dtype=unitary.dtype, device=unitary.device)
    return (pauli @ unitary_superop(unitary) @ inverse).real.to(real_dtype)
