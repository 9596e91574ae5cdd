"""Sampler backends: stock SamplerQNN + TorchConnector parameter-shift against hqctf's batched gradient, and the
circuits one training step needs with and without SPSA + packing.

Part 1, seconds: one QPG layer (B=16 channels, n=6 qubits, RY + linear CX ansatz with reps 2, so P=18) on
``aer_simulator`` at 4096 shots, forward + backward of ``sum(probs * fixed random weights)``:

- stock: ``SamplerQNN(circuit, sampler=qiskit_aer SamplerV2, input_params=all, weight_params=[],
  input_gradients=True)`` in ``TorchConnector`` with the default ``ParamShiftSamplerGradient`` (B·2P = 576 PUBs in
  one sampler job, results as per-outcome dictionaries);
- hqctf: ``make_engine("aer_simulator", circuit, shots=4096)``: forward through SamplerQNN on the same sampler,
  backward = all 576 shifted parameter sets in one Aer call, shots drawn from Aer's exact probabilities;
- hqctf, sampler only: the same engine with ``fast_sampling=False``: the 576 sets as ONE PUB on Aer's SamplerV2 —
  what batching alone buys, with Aer's own shot sampling.

Each gradient is checked against the exact (torch autograd) gradient: shot noise only, |error| < 5·max|w|/sqrt(S).

Part 2, circuits: 64 channels at n=6 on the 127-qubit FakeBrisbane. Stock parameter-shift runs 1 + 2P circuits per
channel, unpacked. hqctf SPSA + packing runs 2 perturbed sets per channel and packs as many channels per circuit
as the device has disjoint 6-qubit lines (the packed circuit is transpiled here; its SWAP count is checked to be 0).

Usage::

    python benchmarks/sampler.py [--json results.json]
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import qiskit
import qiskit_aer
import qiskit_machine_learning
import torch
from qiskit.circuit import QuantumCircuit
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2 as AerSampler
from qiskit_ibm_runtime.fake_provider import FakeBrisbane
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.neural_networks import SamplerQNN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import busy_warning, cpu_count  # noqa: E402  (sibling benchmark: same idle-machine check)

from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz, swap_count  # noqa: E402
from hqctf_qiskit.backends import make_engine  # noqa: E402
from hqctf_qiskit.engines import SamplerEngine, StatevectorEngine  # noqa: E402
from hqctf_qiskit.engines.cost import rows_per_channel  # noqa: E402
from hqctf_qiskit.io import atomic_write_json  # noqa: E402

SEED = 1234
BATCH, QUBITS, REPS, SHOTS = 16, 6, 2, 4096
CHANNELS = 64
SPEED_GOAL, CIRCUIT_GOAL = 10.0, 100.0
STOCK_REPEATS, HQCTF_WARMUP, HQCTF_REPEATS = 2, 1, 5

Model = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Timing:
    """Median forward+backward seconds of one path and its gradient's largest deviation from the exact one."""

    path: str
    seconds: float
    repeats: int
    gradient_max_error: float
    gradient_tolerance: float


@dataclass(frozen=True)
class StepCircuits:
    """Circuits (and shots) one training step of the 64-channel layer needs on the device."""

    path: str
    slots: int
    forward: int
    backward: int

    @property
    def total(self) -> int:
        return self.forward + self.backward


def problem() -> tuple[QuantumCircuit, torch.Tensor, torch.Tensor]:
    """The ansatz, channel angles ``[B, P]`` and ±1 loss weights ``[B, 2**n]`` (float64, seeded)."""
    circuit = build_ansatz(AnsatzSpec(num_qubits=QUBITS, reps=REPS))
    generator = torch.Generator().manual_seed(SEED)
    theta = (torch.rand(BATCH, circuit.num_parameters, generator=generator, dtype=torch.float64) - 0.5) * 2 * math.pi
    weights = torch.randint(0, 2, (BATCH, 2**QUBITS), generator=generator).double() * 2 - 1  # |w| = 1
    return circuit, theta, weights


def gradient_of(model: Model, theta: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    theta = theta.detach().clone().requires_grad_(True)
    (model(theta).double() * weights).sum().backward()
    return theta.grad


def time_path(name: str, model: Model, theta: torch.Tensor, weights: torch.Tensor, exact: torch.Tensor,
              warmup: int, repeats: int) -> Timing:
    """Median wall time of forward+backward after ``warmup`` runs; the last gradient is checked against ``exact``."""
    for _ in range(warmup):
        gradient_of(model, theta, weights)
    times, grad = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        grad = gradient_of(model, theta, weights)
        times.append(time.perf_counter() - started)
    tolerance = 5 * weights.abs().max().item() / math.sqrt(SHOTS)
    error = (grad.double() - exact).abs().max().item()
    timing = Timing(name, statistics.median(times), repeats, error, tolerance)
    verdict = "OK" if error <= tolerance else "MISMATCH"
    print(f"{name:<28} {timing.seconds:8.3f} s (median of {repeats}); gradient max |error| {error:.4f} "
          f"(shot-noise bound {tolerance:.4f}) {verdict}")
    return timing


def stock_model(circuit: QuantumCircuit) -> TorchConnector:
    qnn = SamplerQNN(circuit=circuit, sampler=AerSampler(default_shots=SHOTS, seed=SEED),
                     input_params=circuit.parameters, weight_params=[], input_gradients=True)
    return TorchConnector(qnn)


def measure_seconds() -> list[Timing]:
    circuit, theta, weights = problem()
    exact = gradient_of(StatevectorEngine(circuit, dtype=torch.float64).probabilities, theta, weights)
    fast = make_engine("aer_simulator", circuit, shots=SHOTS, seed=SEED)
    batched = SamplerEngine(circuit, AerSampler(seed=SEED), backend=AerSimulator(), shots=SHOTS, seed=SEED)
    timings = [
        time_path("hqctf (aer_simulator)", fast.probabilities, theta, weights, exact, HQCTF_WARMUP, HQCTF_REPEATS),
        time_path("hqctf, sampler only", batched.probabilities, theta, weights, exact, HQCTF_WARMUP, HQCTF_REPEATS),
        time_path("stock SamplerQNN+Torch", stock_model(circuit), theta, weights, exact, 0, STOCK_REPEATS),
    ]
    print(f"sampler calls per step: hqctf {fast.sampler_calls // (HQCTF_WARMUP + HQCTF_REPEATS)} "
          f"(forward {fast.circuits_per_forward} circuits, backward {fast.circuits_per_backward})")
    return timings


def count_circuits() -> tuple[list[StepCircuits], dict[str, object]]:
    device = FakeBrisbane()
    circuit = build_ansatz(AnsatzSpec(num_qubits=QUBITS, reps=REPS))
    params = circuit.num_parameters
    # A real packed engine on the device's lines (no local-simulation width cap): it is only built, never run.
    packed = SamplerEngine(circuit, AerSampler(), backend=device, shots=SHOTS, gradient="spsa", pack=True)
    unpacked_spsa = SamplerEngine(circuit, AerSampler(), backend=device, shots=SHOTS, gradient="spsa")
    stock = StepCircuits("stock param-shift, unpacked", 1, CHANNELS,
                         CHANNELS * rows_per_channel("param-shift", params))
    rows = [
        stock,
        StepCircuits("hqctf param-shift, packed", packed.slots, *(
            math.ceil(CHANNELS / packed.slots),
            math.ceil(CHANNELS * rows_per_channel("param-shift", params) / packed.slots))),
        StepCircuits("hqctf spsa, unpacked", 1, *unpacked_spsa.circuits_per_step(CHANNELS)),
        StepCircuits("hqctf spsa + packing", packed.slots, *packed.circuits_per_step(CHANNELS)),
    ]
    facts = {"device": device.name, "device_qubits": device.num_qubits, "num_parameters": params,
             "slots": packed.slots, "packed_circuit_qubits": packed.packed.circuit.num_qubits,
             "packed_isa_swaps": swap_count(packed.packed_isa)}
    return rows, facts


def markdown(timings: list[Timing], circuits: list[StepCircuits], facts: dict[str, object]) -> str:
    stock = next(t for t in timings if t.path.startswith("stock"))
    lines = [f"| path (B={BATCH}, n={QUBITS}, reps {REPS}, {SHOTS} shots, aer_simulator) | fwd+bwd (s) | "
             "stock / path | gradient max error (bound) |", "|---|---:|---:|---:|"]
    for t in timings:
        lines.append(f"| {t.path} | {t.seconds:.3f} | {stock.seconds / t.seconds:.1f} | "
                     f"{t.gradient_max_error:.4f} ({t.gradient_tolerance:.4f}) |")
    reference = circuits[0].total
    lines += ["", f"| {CHANNELS} channels, n={QUBITS}, P={facts['num_parameters']} on {facts['device']} | "
              "channels per circuit | circuits forward | backward | per step | shots per step | fewer than stock |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for row in circuits:
        lines.append(f"| {row.path} | {row.slots} | {row.forward} | {row.backward} | {row.total} | "
                     f"{row.total * SHOTS:,} | {reference / row.total:.0f}x |")
    return "\n".join(lines)


def goals(timings: list[Timing], circuits: list[StepCircuits]) -> list[str]:
    stock = next(t for t in timings if t.path.startswith("stock")).seconds
    speed = stock / timings[0].seconds
    fewer = circuits[0].total / circuits[-1].total
    return [
        f"goal speed: stock / hqctf >= {SPEED_GOAL:.0f}x: {speed:.1f}x -> {'PASS' if speed >= SPEED_GOAL else 'MISS'}",
        f"goal circuits: stock / (spsa + packing) >= {CIRCUIT_GOAL:.0f}x: {fewer:.0f}x -> "
        f"{'PASS' if fewer >= CIRCUIT_GOAL else 'MISS'}",
    ]


def environment(threads: int) -> dict[str, object]:
    return {
        "python": platform.python_version(), "torch": torch.__version__, "qiskit": qiskit.__version__,
        "qiskit_aer": qiskit_aer.__version__, "qiskit_machine_learning": qiskit_machine_learning.__version__,
        "machine": platform.machine(), "cpu_count": threads, "seed": SEED,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args()
    threads = cpu_count()
    torch.set_num_threads(threads)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    started = time.perf_counter()
    warning = busy_warning(threads)
    if warning:
        print(warning)
    timings = measure_seconds()
    circuits, facts = count_circuits()
    print(f"packed: {facts['slots']} channels per {facts['packed_circuit_qubits']}-qubit circuit on "
          f"{facts['device']}, routing swaps {facts['packed_isa_swaps']}")
    verdicts = goals(timings, circuits)
    print("\n".join(verdicts))
    print()
    print(markdown(timings, circuits, facts))
    total = time.perf_counter() - started
    print(f"\ntotal benchmark time {total:.0f} s")
    if args.json:
        result = {"environment": environment(threads), "warning": warning, "timings": [asdict(t) for t in timings],
                  "circuits": [{**asdict(row), "total": row.total, "shots": row.total * SHOTS} for row in circuits],
                  "facts": facts, "goals": verdicts, "total_s": total}
        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
