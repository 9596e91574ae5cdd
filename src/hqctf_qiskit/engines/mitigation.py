"""Readout mitigation of sampled probabilities: undo each measured qubit's readout errors, then return the nearest
probability vector.

A device misreads a qubit with some probability; for qubit q the 2x2 assignment matrix ``A_q[read, prepared]``
(columns sum to 1) says how. Calibration measures it on the backend that runs the circuits (for ``fake_*`` the
device's noisy Aer simulator, for ``ibm_*`` the device), through the engine's own sampler so its circuits and shots
are counted with the rest, on exactly the physical qubits the circuits measure. It follows mthree's ``balanced``
scheme: the bit patterns of mthree's ``HadamardGenerator`` (each qubit prepared in 0 in half of the patterns, in 1 in
the other half, its neighbours in varied states), ``CALIBRATION_SHOTS`` shots per qubit and prepared state. The
patterns are the parameter sets of ONE circuit, ``RX(π·bit)`` on each qubit then measured, so a calibration is one
PUB: the runtime's local sampler costs ~3 s per PUB (8 separate circuits took 3x as long), and on hardware one PUB
is one job item. ``RX`` compiles to two ``sx`` gates (error ~2e-4 each on current devices), negligible next to
readout errors of 1-3%. Each
physical qubit is calibrated once per session (``ReadoutMitigation`` is the session's cache) and runs are seeded
through the sampler's reseeding.

Two methods correct a row of probabilities measured on qubits ``q_0 … q_{n-1}`` (bit i of the outcome index read
qubit ``q_i``, Qiskit's little-endian order):

- ``readout``: the tensored inverse ``(A_{q_{n-1}} ⊗ … ⊗ A_{q_0})^-1`` applied to the full 2**n vector, then the
  Euclidean projection onto the probability simplex (``nearest_probabilities``).
- ``m3``: mthree's ``M3Mitigation`` given these matrices (``cals_from_matrices``), applied to the row's counts
  (``apply_correction``: the reduced matrix on the observed bitstrings, mthree's default Hamming distance), then
  mthree's nearest probability distribution (Smolin, Gambetta & Smith 2012 — the same Euclidean projection, over the
  observed bitstrings).

Importing this module loads neither qiskit nor mthree (the config reads ``MITIGATIONS`` from here).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

log = logging.getLogger(__name__)

MITIGATIONS = ("none", "readout", "m3")
CALIBRATION_SHOTS = 10_000
"""Shots per qubit and prepared state (mthree's default calibration shots)."""


def check_mitigation(method: str) -> str:
    """``method`` if it names a mitigation, else a one-line error naming ``--mitigation``."""
    if method not in MITIGATIONS:
        raise ConfigError(f"--mitigation: unknown value {method!r}; choose from {', '.join(MITIGATIONS)}")
    return method


def nearest_probabilities(quasi: np.ndarray) -> np.ndarray:
    """Each row's Euclidean projection onto the probability simplex (>= 0, sums to 1), vectorized.

    The sort-based algorithm (Held, Wolfe & Crowder 1974; Duchi et al. 2008): shift every entry by one threshold and
    clip at 0, the threshold chosen so that the kept entries sum to 1.
    """
    rows = np.atleast_2d(np.asarray(quasi, dtype=np.float64))
    ordered = -np.sort(-rows, axis=1)
    excess = np.cumsum(ordered, axis=1) - 1.0
    kept = ordered - excess / np.arange(1, rows.shape[1] + 1) > 0  # true for a prefix, at least the first entry
    count = rows.shape[1] - np.argmax(kept[:, ::-1], axis=1)
    threshold = excess[np.arange(len(rows)), count - 1] / count
    return np.maximum(rows - threshold[:, None], 0.0).reshape(np.shape(quasi))


def tensored_inverse(probs: np.ndarray, matrices: Sequence[np.ndarray]) -> np.ndarray:
    """``probs [M, 2**n]`` with ``inv(matrices[i])`` applied on outcome bit i: the quasi-probabilities before readout.

    Bit i of the outcome index is the i-th least significant, so it is axis ``n - i`` of the ``[M, 2, …, 2]`` view.
    """
    n = len(matrices)
    rows = np.asarray(probs, dtype=np.float64)
    tensor = rows.reshape(len(rows), *([2] * n))
    for bit, matrix in enumerate(matrices):
        axis = n - bit
        tensor = np.moveaxis(np.tensordot(np.linalg.inv(matrix), tensor, axes=([1], [axis])), 0, axis)
    return tensor.reshape(rows.shape)


def assignment_matrices(patterns: np.ndarray, read_one: np.ndarray) -> list[np.ndarray]:
    """Per qubit ``A[read, prepared]`` from calibration circuits: ``patterns [K, m]`` the prepared bits of each
    circuit, ``read_one [K, m]`` the fraction of its shots that read 1 on each qubit."""
    matrices = []
    for qubit in range(patterns.shape[1]):
        prepared = patterns[:, qubit].astype(bool)
        one_given = (read_one[~prepared, qubit].mean(), read_one[prepared, qubit].mean())
        matrices.append(np.array([[1.0 - one_given[0], 1.0 - one_given[1]], [one_given[0], one_given[1]]]))
    return matrices


class ReadoutMitigation:
    """One session's readout mitigation on one backend: per-qubit calibrations (measured on first need, kept) and
    the ``method`` (``readout`` or ``m3``) that applies them to sampled probabilities (see module doc)."""

    def __init__(self, method: str, backend: Any, *, optimization_level: int = 1, seed: int = 0,
                 shots: int = CALIBRATION_SHOTS) -> None:
        if check_mitigation(method) == "none":
            raise ValueError("ReadoutMitigation needs a method other than 'none'")
        if backend is None:
            raise ValueError("readout calibration needs the backend's device (its qubits and basis)")
        self.method, self.backend = method, backend
        self.optimization_level, self.seed, self.shots = optimization_level, seed, shots
        self.matrices: dict[int, np.ndarray] = {}
        self.calibration_circuits = 0
        self._m3: Any = None

    # -- calibration ----------------------------------------------------------------------------------------------
    def calibrate(self, qubits: Sequence[int], sampler: Any) -> None:
        """Measure the assignment matrices of the ``qubits`` not yet calibrated, in ONE call of ``sampler``."""
        from mthree.generators import HadamardGenerator

        missing = [int(q) for q in dict.fromkeys(qubits) if int(q) not in self.matrices]
        if not missing:
            return
        patterns = np.array(list(HadamardGenerator(len(missing))), dtype=np.uint8)
        shots = math.ceil(2 * self.shots / len(patterns))  # each qubit: `self.shots` per prepared state in all
        circuit = self._calibration_circuit(missing)
        result = sampler.run([(circuit, np.pi * patterns)], shots=shots).result()[0]
        read_one = result.data.meas.to_bool_array(order="little").mean(axis=-2)  # [patterns, qubits]
        for qubit, matrix in zip(missing, assignment_matrices(patterns, read_one)):
            self.matrices[qubit] = matrix
            if matrix[0, 1] >= matrix[0, 0]:
                log.warning("qubit %d reads 0 as often after preparing 1 as after 0: its mitigation is meaningless",
                            qubit)
        self.calibration_circuits += len(patterns)
        self._m3 = None  # rebuilt with the new matrices on next use
        log.info("readout calibration on %s: %d qubits, %d circuits x %d shots", self.backend.name, len(missing),
                 len(patterns), shots)

    def _calibration_circuit(self, qubits: list[int]) -> Any:
        """``RX(θ_i)`` on each qubit, all measured, transpiled onto exactly ``qubits`` (θ_i = π·bit prepares bit)."""
        from qiskit.circuit import ParameterVector, QuantumCircuit

        from ..circuits.transpile import transpile_isa
        from .sampler import measured_qubits

        angles = ParameterVector("prepare", len(qubits))
        circuit = QuantumCircuit(len(qubits), name="readout_calibration")
        for index, angle in enumerate(angles):
            circuit.rx(angle, index)
        circuit.measure_all()
        isa = transpile_isa(circuit, self.backend, self.optimization_level, initial_layout=qubits,
                            seed_transpiler=self.seed)
        if measured_qubits(isa) != qubits or list(isa.parameters) != list(angles):
            raise RuntimeError(f"calibration circuit for qubits {qubits} was not transpiled onto them as built")
        return isa

    def matrices_for(self, qubits: Sequence[int]) -> list[np.ndarray]:
        try:
            return [self.matrices[int(q)] for q in qubits]
        except KeyError as missing:
            raise RuntimeError(f"qubit {missing} was not calibrated before mitigation") from None

    # -- correction -----------------------------------------------------------------------------------------------
    def apply(self, probs: np.ndarray, qubits: Sequence[int], shots: int) -> np.ndarray:
        """Mitigated probabilities ``[M, 2**n]`` of rows measured with ``shots`` shots, bit i on ``qubits[i]``."""
        probs = np.asarray(probs, dtype=np.float64)
        if self.method == "readout":
            return nearest_probabilities(tensored_inverse(probs, self.matrices_for(qubits)))
        return self._apply_m3(probs, [int(q) for q in qubits], shots)

    def _apply_m3(self, probs: np.ndarray, qubits: list[int], shots: int) -> np.ndarray:
        mitigator = self.m3_mitigator()
        self.matrices_for(qubits)  # every qubit calibrated (mthree would otherwise try to calibrate itself)
        counts = np.rint(probs * shots).astype(np.int64)
        width = len(qubits)
        dicts = [{format(int(index), f"0{width}b"): int(row[index]) for index in np.flatnonzero(row)}
                 for row in counts]
        nearest = mitigator.apply_correction(dicts, qubits).nearest_probability_distribution()
        out = np.zeros_like(probs)
        for row, distribution in enumerate(nearest):
            for key, value in distribution.items():
                out[row, int(key, 2)] = value
        return out / out.sum(axis=1, keepdims=True)  # mthree computes in float32: rows sum to 1 +- 1e-7

    def m3_mitigator(self) -> Any:
        """mthree's ``M3Mitigation`` holding this session's calibrations (no system: it never calibrates itself)."""
        if self._m3 is None:
            from mthree import M3Mitigation

            size = max(self.matrices, default=-1) + 1
            self._m3 = M3Mitigation()
            self._m3.cals_from_matrices([self.matrices[q].astype(np.float32) if q in self.matrices else None
                                         for q in range(size)])
        return self._m3

    def __repr__(self) -> str:
        return f"ReadoutMitigation({self.method}, {len(self.matrices)} qubit(s) calibrated)"
