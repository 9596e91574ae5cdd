"""``noise-check``: the torch engine's noisy probabilities against Aer's exact noisy probabilities, per qubit count.

For each n, the project's ansatz (the config's default reps, rotation and entanglement) with K random parameter
sets is placed and transpiled as a ``--noise DEVICE`` training run places it (``backends.noise.noisy_engine``), and
each set's probabilities are compared, as total variation distance, with Aer's for the same ISA circuit:
``AerSimulator.from_backend(device, method="density_matrix")`` — Aer's own ``NoiseModel.from_backend`` of the
whole device — with ``save_probabilities`` on the measured qubits. ``save_probabilities`` ignores readout errors,
so the device's readout assignment matrices are applied to Aer's probabilities afterwards as one Kronecker product.
That keeps the reference exact: sampling S shots instead would leave ~sqrt(2**n / S) of noise in every TVD, far
above the ~1e-8 at which the two simulations agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoiseCheckRow:
    """One qubit count: the lines used, how many parameter sets, and their largest and mean TVD."""

    num_qubits: int
    lines: list[list[int]]
    circuits: int
    max_tvd: float
    mean_tvd: float


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise total variation distance of two probability arrays ``[K, 2**n]``."""
    return 0.5 * np.abs(p - q).sum(axis=-1)


def readout_matrices(device: Any) -> dict[int, np.ndarray]:
    """Readout ``[true, measured]`` per physical qubit, as Aer's ``NoiseModel.from_backend`` derives them."""
    from qiskit_aer.noise.device import basic_device_readout_errors

    return {qubits[0]: np.asarray(error.probabilities) for qubits, error in
            basic_device_readout_errors(target=device.target)}


def aer_noisy_probabilities(simulator: Any, isa: Any, values: np.ndarray, readout: dict[int, np.ndarray]) -> np.ndarray:
    """Aer's exact measured probabilities ``[K, 2**n]`` of ``isa`` (with final measurements) for parameter rows
    ``values [K, P]``; ``readout``: ``readout_matrices`` of the device."""
    from ..engines.sampler import measured_qubits

    measured = measured_qubits(isa)
    confusion = [readout.get(qubit, np.eye(2)) for qubit in measured]
    circuit = isa.remove_final_measurements(inplace=False)
    circuit.save_probabilities(qubits=measured)
    binds = {parameter: values[:, i] for i, parameter in enumerate(circuit.parameters)}
    result = simulator.run(circuit, parameter_binds=[binds] if binds else None).result()
    ideal_readout = np.stack([np.asarray(result.data(k)["probabilities"]) for k in range(len(values))])
    # bit n-1 is the most significant: the Kronecker product runs from the last measured qubit to the first
    assignment = reduce(np.kron, [matrix.T for matrix in reversed(confusion)], np.ones((1, 1)))
    return ideal_readout @ assignment.T


def noise_check(device: str, qubit_counts: list[int], circuits: int = 8, seed: int = 0,
                option: str = "DEVICE") -> list[NoiseCheckRow]:
    """Per qubit count, the TVD between the noisy torch engine and Aer on ``device`` (see module doc)."""
    from qiskit_aer import AerSimulator

    from ..backends.noise import device_noise, noisy_engine
    from ..backends.spec import BackendSpec
    from ..circuits.ansatz import build_ansatz
    from ..config.schema import WeightsConfig

    noise = device_noise(device, option)
    spec = BackendSpec("torch", noise=device, seed=seed)
    simulator = AerSimulator.from_backend(noise.device, method="density_matrix")
    readout = readout_matrices(noise.device)
    ansatz = WeightsConfig().ansatz()
    rng = np.random.default_rng(seed)
    rows = []
    for n in qubit_counts:
        engine = noisy_engine(build_ansatz(ansatz.with_qubits(n)), spec, noise)
        values = rng.uniform(0, 2 * np.pi, size=(circuits, engine.num_parameters))
        ours = engine.probabilities(torch.tensor(values, dtype=torch.float64)).detach().numpy()
        distances = np.empty(circuits)
        for k, program in enumerate(engine.programs):  # channel c runs on line c mod L
            rows_k = np.arange(k, circuits, len(engine.programs))
            if len(rows_k):
                reference = aer_noisy_probabilities(simulator, program.isa, values[rows_k], readout)
                distances[rows_k] = total_variation(ours[rows_k], reference)
        lines = [program.measured_physical for program in engine.programs]
        rows.append(NoiseCheckRow(n, lines, circuits, float(distances.max()), float(distances.mean())))
        log.debug("noise-check %s n=%d: max TVD %.3g", device, n, rows[-1].max_tvd)
    return rows
