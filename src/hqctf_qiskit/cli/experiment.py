"""``hqctf experiment``: the classical vs low-rank vs QPG grid of a spec file, then its results tables."""

from __future__ import annotations

from pathlib import Path

import click

from .errors import friendly_errors


@click.command()
@click.argument("config_file", metavar="CONFIG.yaml")
@click.option("--small", is_flag=True,
              help="The CPU-sized preset: the spec's own `small:` block, else 5 architectures x 7 methods x 3 seeds.")
@click.option("--launcher", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Who runs the cells: one after another in this process, or as Ray tasks (pip install "
                   "'hqctf-qiskit[ray]').")
@click.option("--address", metavar="auto|ray://HOST:PORT",
              help="Ray only: join a running Ray cluster (default: start a Ray on this machine with its CPUs).")
@click.option("--cpus-per-run", type=click.IntRange(min=1), metavar="C",
              help="CPUs (torch threads) per cell; Ray runs as many cells at once as fit.  [default: Ray 1, local "
                   "torch's own]")
@click.option("--gpus-per-run", type=click.FloatRange(min=0), metavar="G",
              help="Ray only: GPUs per cell; a fraction (0.5) shares one GPU between cells.  [default: 0: CPU]")
@friendly_errors
def experiment(config_file: str, small: bool, launcher: str, address: str | None, cpus_per_run: int | None,
               gpus_per_run: float | None) -> None:
    """Classical vs low-rank vs QPG over architectures and seeds on one split; results.csv/md/png (resumable)."""
    from ..experiments.grid import ExperimentSpec, run_experiment
    from ..experiments.launchers import make_launcher

    runner = make_launcher(launcher, address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)
    spec = ExperimentSpec.from_yaml(Path(config_file), small=small)
    result = run_experiment(spec, runner)
    click.echo((Path(result["out"]) / "results.md").read_text())
    click.echo(f"wrote {result['out']}/results.csv, results.md, results.png ({result['runs']} runs)")
