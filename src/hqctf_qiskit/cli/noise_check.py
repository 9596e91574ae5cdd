"""``hqctf noise-check DEVICE``: how far the torch engine's device noise is from Aer's (thin: parse, call, print)."""

from __future__ import annotations

import click

from ..errors import ConfigError
from .errors import friendly_errors

MAX_CHECK_QUBITS = 8  # the noisy engine's density-matrix limit (engines.noisy.MAX_DENSITY_QUBITS)


def parse_qubit_counts(text: str) -> list[int]:
    """``"3,4,5"`` → ``[3, 4, 5]``; each count between 1 and the density-matrix engine's limit."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--qubits: need comma-separated whole numbers, got {text!r}") from None
    if not counts or any(not 1 <= n <= MAX_CHECK_QUBITS for n in counts):
        raise ConfigError(f"--qubits: each count must be 1 to {MAX_CHECK_QUBITS}, got {text!r}")
    return counts


@click.command("noise-check")
@click.argument("device")
@click.option("--qubits", default="3,4,5,6", show_default=True, metavar="N,N,...",
              help="Qubit counts of the ansatz circuits to check.")
@click.option("--circuits", default=8, show_default=True, type=click.IntRange(min=1),
              help="Random parameter sets per qubit count.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the parameters and the transpiler.")
@friendly_errors
def noise_check(device: str, qubits: str, circuits: int, seed: int) -> None:
    """Compare --noise DEVICE probabilities of the torch engine with Aer's exact density-matrix simulation.

    Prints, per qubit count, the physical qubits used and the total variation distance (TVD) to Aer for random
    parameters of the default ansatz, placed as training places it; the last line is the largest TVD.
    """
    counts = parse_qubit_counts(qubits)
    from ..hardware.noise_check import noise_check as run_check

    rows = run_check(device, counts, circuits=circuits, seed=seed)
    click.echo(f"noise-check {device}: {circuits} random parameter set(s) per size, seed {seed}; reference: Aer "
               "density matrix (AerSimulator.from_backend) with the device's readout errors")
    for row in rows:
        lines = "; ".join(",".join(map(str, line)) for line in row.lines)
        click.echo(f"n={row.num_qubits}  qubits {lines}  max TVD {row.max_tvd:.3g}  mean TVD {row.mean_tvd:.3g}")
    click.echo(f"max TVD {max(row.max_tvd for row in rows):.3g}")
