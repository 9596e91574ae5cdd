"""Forward+backward wall time: the hqctf torch statevector engine against qiskit-machine-learning's stock path.

Both paths do the same work: probabilities of a batch of B circuits (one parameter set per output channel) for the
project's ansatz (RY layers + linear CX chain, reps 3), loss = sum(probs * fixed random weights), backward to the
parameters. The stock path is ``SamplerQNN`` (all circuit parameters as inputs, ``input_gradients=True``, default
sampler -- in qiskit-machine-learning 0.9.1 that is ``QMLSampler``, a ``StatevectorSampler`` subclass in exact mode --
and default parameter-shift gradient) wrapped in ``TorchConnector`` (float32 output), with the channels' parameters fed
as the input batch. It costs seconds per circuit, so it is timed on a few circuits and its per-circuit time is
extrapolated linearly to B (it evaluates circuits one by one, so its time is linear in B). The table says so.

Usage::

    python benchmarks/engine.py [--quick] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import qiskit
import qiskit_machine_learning
import torch
from qiskit.circuit import QuantumCircuit
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.neural_networks import SamplerQNN

from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz
from hqctf_qiskit.engines import StatevectorEngine

REPS = 3
SEED = 1234
COMPARED_SIZES: tuple[tuple[int, int], ...] = ((10, 64), (10, 256), (12, 64), (12, 256))
ENGINE_ONLY_SIZE = (14, 512)
GOALS: dict[tuple[int, int], float] = {(10, 64): 20_000.0, (12, 256): 40_000.0}
PROBABILITY_TOLERANCE = 1e-5
GRADIENT_TOLERANCE = 1e-4

ProbabilityModel = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Settings:
    """How much to measure: engine repeats (median reported) and, per qubit count, the stock circuits and repeats."""

    engine_warmup: int
    engine_repeats: int
    stock_circuits: dict[int, int]
    stock_repeats: dict[int, int]


FULL = Settings(engine_warmup=2, engine_repeats=9, stock_circuits={10: 4, 12: 2}, stock_repeats={10: 2, 12: 1})
QUICK = Settings(engine_warmup=1, engine_repeats=3, stock_circuits={10: 2, 12: 1}, stock_repeats={10: 1, 12: 1})


@dataclass(frozen=True)
class StockTiming:
    """The stock path measured at one qubit count on a batch of ``circuits`` circuits, and its agreement with hqctf."""

    num_qubits: int
    circuits: int
    repeats: int
    per_circuit_s: float
    max_probability_error: float
    max_gradient_rel_error: float


@dataclass(frozen=True)
class Row:
    """One table row; the stock columns are ``None`` for the engine-only size."""

    num_qubits: int
    batch: int
    num_parameters: int
    engine_ms: float
    stock_circuits: int | None = None
    stock_per_circuit_s: float | None = None
    stock_extrapolated_s: float | None = None
    ratio: float | None = None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cpu_count() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def busy_cores(interval_s: float = 1.0) -> float | None:
    """Cores kept busy by other processes, from /proc/stat over ``interval_s`` while this one sleeps (Linux only)."""
    def sample() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy_start, total_start = sample()
        time.sleep(interval_s)
        busy_end, total_end = sample()
    except OSError:
        return None
    return (busy_end - busy_start) / max(total_end - total_start, 1) * (os.cpu_count() or 1)


def busy_warning(threads: int) -> str | None:
    """A warning when other processes load the cores: torch's threads then stall and timings blow up (~100x seen)."""
    busy = busy_cores()
    if busy is None or busy < 0.25:
        return None
    return (f"WARNING: other processes keep {busy:.1f} of {os.cpu_count()} cores busy; the engine uses {threads} "
            "threads, so its timings are unreliable -- rerun on an idle machine")


def make_problem(num_qubits: int, batch: int) -> tuple[QuantumCircuit, torch.Tensor, torch.Tensor]:
    """The ansatz, a batch of parameter sets ``[B, P]`` and fixed loss weights ``[B, 2**n]`` (float32, seeded)."""
    circuit = build_ansatz(AnsatzSpec(num_qubits=num_qubits, reps=REPS))
    generator = torch.Generator().manual_seed(SEED + 1000 * num_qubits + batch)
    theta = torch.rand(batch, circuit.num_parameters, generator=generator) * (2 * torch.pi)
    weights = torch.randn(batch, 2**num_qubits, generator=generator)
    return circuit, theta, weights


def forward_backward(
    model: ProbabilityModel, theta: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step's quantum work: probabilities, the weighted-sum loss, backward; returns (probs, dL/dθ)."""
    theta = theta.detach().clone().requires_grad_(True)
    probs = model(theta)
    (probs * weights).sum().backward()
    return probs.detach(), theta.grad


def timed(step: Callable[[], object], warmup: int, repeats: int) -> list[float]:
    """Wall times in seconds of ``repeats`` calls of ``step`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def time_engine(num_qubits: int, batch: int, settings: Settings) -> tuple[int, float]:
    """Median forward+backward seconds of the hqctf engine (float32); returns (num_parameters, seconds)."""
    circuit, theta, weights = make_problem(num_qubits, batch)
    engine = StatevectorEngine(circuit, dtype=torch.float32)
    times = timed(lambda: forward_backward(engine.probabilities, theta, weights), settings.engine_warmup,
                  settings.engine_repeats)
    return circuit.num_parameters, statistics.median(times)


def stock_model(circuit: QuantumCircuit) -> TorchConnector:
    """SamplerQNN over ``circuit`` with every parameter an input, default sampler and gradient, in TorchConnector."""
    qnn = SamplerQNN(circuit=circuit, input_params=circuit.parameters, weight_params=[], input_gradients=True)
    return TorchConnector(qnn)


def max_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest absolute difference between two tensors."""
    return (actual.double() - expected.double()).abs().max().item()


def time_stock(num_qubits: int, settings: Settings) -> StockTiming:
    """Median per-circuit forward+backward seconds of the stock path on a batch of k circuits.

    The last run's probabilities and gradients are checked against the hqctf engine on the same circuits.
    """
    circuits = settings.stock_circuits[num_qubits]
    repeats = settings.stock_repeats[num_qubits]
    circuit, theta, weights = make_problem(num_qubits, circuits)
    model = stock_model(circuit)
    outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
    times = timed(lambda: outputs.append(forward_backward(model, theta, weights)), warmup=0, repeats=repeats)
    stock_probs, stock_grad = outputs[-1]
    engine_probs, engine_grad = forward_backward(StatevectorEngine(circuit, dtype=torch.float32), theta, weights)
    return StockTiming(
        num_qubits=num_qubits,
        circuits=circuits,
        repeats=repeats,
        per_circuit_s=statistics.median(times) / circuits,
        max_probability_error=max_error(stock_probs, engine_probs),
        max_gradient_rel_error=max_error(stock_grad, engine_grad) / engine_grad.abs().max().item(),
    )


def compared_row(num_qubits: int, batch: int, num_parameters: int, engine_s: float, stock: StockTiming) -> Row:
    """Engine timing at (n, B) next to the stock per-circuit time extrapolated to B."""
    stock_s = stock.per_circuit_s * batch
    return Row(num_qubits, batch, num_parameters, engine_s * 1e3, stock.circuits, stock.per_circuit_s, stock_s,
               stock_s / engine_s)


def print_check(stock: StockTiming) -> None:
    """One line: do the stock path's probabilities and gradients equal the engine's on the measured circuits?"""
    probs_ok = "OK" if stock.max_probability_error <= PROBABILITY_TOLERANCE else "MISMATCH"
    grads_ok = "OK" if stock.max_gradient_rel_error <= GRADIENT_TOLERANCE else "MISMATCH"
    print(f"check n={stock.num_qubits}, {stock.circuits} circuits: stock vs hqctf probabilities max |diff| "
          f"{stock.max_probability_error:.2e} (tol {PROBABILITY_TOLERANCE:g}) {probs_ok}; gradients max |diff| / "
          f"max |grad| {stock.max_gradient_rel_error:.2e} (tol {GRADIENT_TOLERANCE:g}) {grads_ok}")


def goal_lines(rows: list[Row]) -> list[str]:
    """PASS/MISS per speed-up goal."""
    by_size = {(row.num_qubits, row.batch): row for row in rows}
    lines = []
    for (n, batch), target in GOALS.items():
        ratio = by_size[(n, batch)].ratio
        verdict = "PASS" if ratio is not None and ratio >= target else "MISS"
        lines.append(f"goal n={n}, B={batch}: stock/hqctf >= {target:,.0f}: {ratio:,.0f} -> {verdict}")
    return lines


def markdown_table(rows: list[Row]) -> str:
    """The results as a markdown table (engine-only rows have dashes in the stock columns)."""
    header = ("| n | B | P | hqctf fwd+bwd (ms) | stock per circuit (s) | stock measured on k circuits, extrapolated "
              "to B (s) | stock / hqctf |")
    lines = [header, "|---:|---:|---:|---:|---:|---|---:|"]
    for row in rows:
        if row.ratio is None:
            stock = "— | — | —"
        else:
            stock = (f"{row.stock_per_circuit_s:.2f} | {row.stock_extrapolated_s:,.0f} (k={row.stock_circuits}) | "
                     f"{row.ratio:,.0f}")
        lines.append(f"| {row.num_qubits} | {row.batch} | {row.num_parameters} | {row.engine_ms:.1f} | {stock} |")
    return "\n".join(lines)


def environment(threads: int, quick: bool) -> dict[str, object]:
    """Versions and machine facts recorded next to the numbers."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "qiskit": qiskit.__version__,
        "qiskit_machine_learning": qiskit_machine_learning.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "reps": REPS,
        "seed": SEED,
        "quick": quick,
    }


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and fewer stock circuits")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    return parser.parse_args()


def measure_engine(settings: Settings) -> dict[tuple[int, int], tuple[int, float]]:
    """Engine (num_parameters, seconds) for every size, printed as measured.

    Runs before the stock path: on a 2-core VM, engine timings taken right after the stock path were once ~100x slow
    for several seconds (not reproducible), which would distort millisecond timings.
    """
    engine = {}
    for n, batch in (*COMPARED_SIZES, ENGINE_ONLY_SIZE):
        engine[(n, batch)] = time_engine(n, batch, settings)
        engine_ms = engine[(n, batch)][1] * 1e3
        print(f"n={n:2d} B={batch:3d}: hqctf {engine_ms:8.1f} ms (median of {settings.engine_repeats})")
    return engine


def measure_stock(settings: Settings) -> dict[int, StockTiming]:
    """Stock per-circuit timing and the agreement check for every compared qubit count, printed as measured."""
    stock = {}
    for n in sorted({n for n, _ in COMPARED_SIZES}):
        stock[n] = time_stock(n, settings)
        print(f"n={n:2d}: stock {stock[n].per_circuit_s:.2f} s/circuit (median of {stock[n].repeats}, "
              f"measured on {stock[n].circuits} circuits)")
        print_check(stock[n])
    return stock


def main() -> None:
    """Measure, print timings as they come, the checks, the goals and a markdown table; optionally write JSON."""
    args = parse_args()
    settings = QUICK if args.quick else FULL
    threads = cpu_count()
    torch.set_num_threads(threads)
    seed_everything(SEED)
    started = time.perf_counter()
    print(f"hqctf engine vs SamplerQNN + TorchConnector (exact default sampler, parameter-shift), reps {REPS}, "
          f"float32, torch threads {threads}")
    print("stock: timed on k circuits, per-circuit time extrapolated linearly to B")
    warning = busy_warning(threads)
    if warning:
        print(warning)
    engine = measure_engine(settings)
    stock = measure_stock(settings)
    rows = [compared_row(n, batch, *engine[(n, batch)], stock[n]) for n, batch in COMPARED_SIZES]
    num_parameters, engine_s = engine[ENGINE_ONLY_SIZE]
    rows.append(Row(*ENGINE_ONLY_SIZE, num_parameters, engine_s * 1e3))
    goals = goal_lines(rows)
    print("\n".join(goals))
    print()
    print(markdown_table(rows))
    total_s = time.perf_counter() - started
    print(f"\ntotal benchmark time {total_s:.0f} s")
    if args.json:
        result = {
            "environment": environment(threads, args.quick),
            "warning": warning,
            "settings": asdict(settings),
            "stock_checks": [asdict(timing) for timing in stock.values()],
            "rows": [asdict(row) for row in rows],
            "goals": goals,
            "total_s": total_s,
        }
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
