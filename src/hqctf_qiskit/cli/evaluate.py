"""``hqctf evaluate``: per-case 3D Dice/IoU of a run on a split, optionally with weights sampled on a backend."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from .errors import friendly_errors
from .options import resolve_run

CHECKPOINT_HELP = ("best (falls back to final, then latest, and says so), final (only once the run has finished) "
                   "or latest.")


@click.command()
@click.argument("run")
@click.option("--data", help="Evaluate on this data source instead of the run's.")
@click.option("--split", default="val", show_default=True, help="val, test, train or all.")
@click.option("--weights-from", help="Also evaluate with QPG weights regenerated on this backend (forward only).")
@click.option("--shots", type=int, help="Shots for --weights-from (default: exact where the backend allows).")
@click.option("--pack/--no-pack", default=False, help="Pack channels side by side for --weights-from.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for --weights-from sampling.")
@click.option("--checkpoint", default="best", show_default=True, help=CHECKPOINT_HELP)
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder [RUN/eval/<split>-<checkpoint>[-<backend>-<shots>shots]].")
@click.option("--overwrite", is_flag=True, help="Replace the output folder's earlier results.")
@click.option("--device", default="auto", show_default=True)
@friendly_errors
def evaluate(run: str, data: str | None, split: str, checkpoint: str, out_dir: str | None, overwrite: bool,
             device: str, weights_from: str | None, shots: int | None, pack: bool, seed: int) -> None:
    """Per-case 3D Dice/IoU per class and KiTS regions on a split of a run (RUN may be 'latest').

    Each evaluation keeps its own folder; earlier results are never replaced without --overwrite.
    """
    from ..evaluation.evaluate import evaluate_run

    if shots is not None and weights_from is None:
        raise ConfigError("--shots: only meaningful with --weights-from BACKEND")
    run_dir = resolve_run(run)
    summary = evaluate_run(run_dir, data=data, split=split, checkpoint=checkpoint,
                           out_dir=Path(out_dir) if out_dir else None, device=device, weights_from=weights_from,
                           shots=shots, pack=pack, seed=seed, overwrite=overwrite)
    click.echo(f"evaluated {summary['cases']} {split} case(s) of {run_dir}, checkpoint "
               f"{summary['checkpoint_description']}")
    if weights_from is None:
        for key, value in summary["mean"].items():
            click.echo(f"  {key:<28} {value:.4f}")
    else:
        label = f"{weights_from} {shots} shots" if shots else f"{weights_from} exact"
        click.echo(f"  {'metric':<28} {'exact weights':>14} {label:>24}")
        for key, value in summary["mean"].items():
            click.echo(f"  {key:<28} {value:>14.4f} {summary['sampled_mean'][key]:>24.4f}")
        for layer in summary["layers"]:
            click.echo(f"  {layer['layer']:<40} weight relative error {layer['weight_relative_error']:.3f}")
    click.echo(f"wrote {summary['out_dir']}")
