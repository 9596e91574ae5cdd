"""Gate tables of the torch statevector engine: 2x2 matrices (fixed or as functions of an angle) and permutations."""

from __future__ import annotations

import math

import torch

SQRT1_2 = 1.0 / math.sqrt(2.0)

# Fixed single-qubit matrices, rows = output amplitude, columns = input amplitude.
FIXED_1Q: dict[str, list[list[complex]]] = {
    "id": [[1, 0], [0, 1]],
    "x": [[0, 1], [1, 0]],
    "y": [[0, -1j], [1j, 0]],
    "z": [[1, 0], [0, -1]],
    "h": [[SQRT1_2, SQRT1_2], [SQRT1_2, -SQRT1_2]],
    "s": [[1, 0], [0, 1j]],
    "sdg": [[1, 0], [0, -1j]],
    "t": [[1, 0], [0, complex(SQRT1_2, SQRT1_2)]],
    "tdg": [[1, 0], [0, complex(SQRT1_2, -SQRT1_2)]],
    "sx": [[0.5 + 0.5j, 0.5 - 0.5j], [0.5 - 0.5j, 0.5 + 0.5j]],
    "sxdg": [[0.5 - 0.5j, 0.5 + 0.5j], [0.5 + 0.5j, 0.5 - 0.5j]],
}

ROTATIONS_1Q = ("rx", "ry", "rz", "p")
REAL_ROTATIONS = {"ry"}
PERMUTATION_2Q = ("cx", "cz", "swap")
IGNORED = ("barrier", "measure", "delay")
SUPPORTED = tuple(FIXED_1Q) + ROTATIONS_1Q + PERMUTATION_2Q


def is_real_fixed(name: str) -> bool:
    return all(complex(v).imag == 0 for row in FIXED_1Q[name] for v in row)


def fixed_matrix(name: str, dtype: torch.dtype) -> torch.Tensor:
    m = torch.tensor(FIXED_1Q[name], dtype=torch.complex128)
    return m.real.to(dtype) if not dtype.is_complex else m.to(dtype)


def rotation_matrix(name: str, angle: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Batched 2x2 matrices ``[..., 2, 2]`` of a rotation gate for an angle tensor ``[...]``."""
    half = angle / 2
    c, s = torch.cos(half), torch.sin(half)
    if name == "ry":
        m = torch.stack([c, -s, s, c], dim=-1)
        return m.reshape(*angle.shape, 2, 2).to(dtype)
    zero = torch.zeros_like(c)
    if name == "rx":
        re = torch.stack([c, zero, zero, c], dim=-1)
        im = torch.stack([zero, -s, -s, zero], dim=-1)
    elif name == "rz":
        re = torch.stack([c, zero, zero, c], dim=-1)
        im = torch.stack([-s, zero, zero, s], dim=-1)
    elif name == "p":
        one = torch.ones_like(c)
        re = torch.stack([one, zero, zero, torch.cos(angle)], dim=-1)
        im = torch.stack([zero, zero, zero, torch.sin(angle)], dim=-1)
    else:  # pragma: no cover - guarded by the compiler
        raise KeyError(name)
    return torch.complex(re, im).reshape(*angle.shape, 2, 2).to(dtype)


def permutation_2q(name: str, qubits: tuple[int, int], num_qubits: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(index, sign)`` such that the gate maps a state ``s`` to ``s[index] * sign`` (Qiskit little-endian bits)."""
    basis = torch.arange(2**num_qubits, dtype=torch.int64)
    a, b = qubits
    bit_a = (basis >> a) & 1
    bit_b = (basis >> b) & 1
    if name == "cx":  # control a, target b
        return basis ^ (bit_a << b), None
    if name == "swap":
        return basis ^ ((bit_a ^ bit_b) << a) ^ ((bit_a ^ bit_b) << b), None
    if name == "cz":
        return basis, 1.0 - 2.0 * (bit_a & bit_b).to(torch.float64)
    raise KeyError(name)  # pragma: no cover - guarded by the compiler
