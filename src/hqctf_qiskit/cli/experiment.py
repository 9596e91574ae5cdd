"""``hqctf experiment``: the classical vs low-rank vs QPG grid of a spec file, then its results tables."""

from __future__ import annotations

from pathlib import Path

import click

from .errors import friendly_errors


@click.command()
@click.argument("config_file", metavar="CONFIG.yaml")
@click.option("--small", is_flag=True, help="The small preset: 5 architectures x 5 methods x 3 seeds, CPU-sized.")
@friendly_errors
def experiment(config_file: str, small: bool) -> None:
    """Classical vs low-rank vs QPG over architectures and seeds on one split; results.csv/md/png (resumable)."""
    from ..experiments.grid import ExperimentSpec, run_experiment

    spec = ExperimentSpec.from_yaml(Path(config_file), small=small)
    result = run_experiment(spec)
    click.echo((Path(result["out"]) / "results.md").read_text())
    click.echo(f"wrote {result['out']}/results.csv, results.md, results.png ({result['runs']} runs)")
