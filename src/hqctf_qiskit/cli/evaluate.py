"""``hqctf evaluate``: per-case 3D Dice/IoU and surface metrics of a run on a split, optionally with weights sampled
on a backend."""

from __future__ import annotations

from pathlib import Path

import click

from ..engines.mitigation import MITIGATIONS
from ..errors import ConfigError
from .errors import friendly_errors
from .options import resolve_run

PRINTED = ("dice_", "hd95_", "nsd_")  # the headline metrics; summary.json and per_case.csv hold all of them
CHECKPOINT_HELP = ("best (falls back to final, then latest, and says so), final (only once the run has finished) "
                   "or latest.")


@click.command()
@click.argument("run")
@click.argument("more_runs", nargs=-1)
@click.option("--cv", is_flag=True, help="Cross-validation: evaluate each RUN (the folds of one --folds K "
              "experiment), then print and write mean ± sd over folds [--out: cv-<first RUN>-<split>-<checkpoint> "
              "beside the first RUN].")
@click.option("--data", help="Evaluate on this data source instead of the run's.")
@click.option("--split", default="val", show_default=True, help="val, test, train or all.")
@click.option("--weights-from", help="Also evaluate with QPG weights regenerated on this backend (forward only).")
@click.option("--shots", type=int, help="Shots for --weights-from (default: exact where the backend allows).")
@click.option("--pack/--no-pack", default=False, help="Pack channels side by side for --weights-from.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for --weights-from sampling.")
@click.option("--mitigation", default="none", show_default=True, type=click.Choice(MITIGATIONS),
              help="Readout mitigation of --weights-from probabilities (fake_*, ibm_*), calibrated on that backend.")
@click.option("--twirling", is_flag=True, help="--weights-from ibm_*: Pauli twirling of gates and measurements.")
@click.option("--dd", metavar="SEQUENCE", help="--weights-from ibm_*: dynamical decoupling sequence (e.g. XY4).")
@click.option("--checkpoint", default="best", show_default=True, help=CHECKPOINT_HELP)
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder [RUN/eval/<split>-<checkpoint>[-<backend>-<shots>shots]].")
@click.option("--overwrite", is_flag=True, help="Replace the output folder's earlier results.")
@click.option("--nsd-tolerance", "nsd_tolerance", default=2.0, show_default=True, type=float, metavar="MM",
              help="Tolerance of the surface Dice (NSD), in mm.")
@click.option("--device", default="auto", show_default=True)
@friendly_errors
def evaluate(run: str, data: str | None, split: str, checkpoint: str, out_dir: str | None, overwrite: bool,
             device: str, weights_from: str | None, shots: int | None, pack: bool, seed: int,
             nsd_tolerance: float, more_runs: tuple[str, ...] = (), cv: bool = False, mitigation: str = "none",
             twirling: bool = False, dd: str | None = None) -> None:
    """Per-case 3D Dice/IoU, HD95, ASSD, surface Dice (NSD) and volume difference per class and KiTS region on a
    split of a run (RUN may be 'latest'); prints the mean ± sd of Dice, HD95 (mm) and NSD.

    Each evaluation keeps its own folder; earlier results are never replaced without --overwrite.
    """
    from ..evaluation.evaluate import evaluate_run
    from ..evaluation.surface import check_nsd_tolerance

    for option, value in (("--shots", shots), ("--mitigation", mitigation != "none"), ("--twirling", twirling),
                          ("--dd", dd)):
        if value and weights_from is None:
            raise ConfigError(f"{option}: only meaningful with --weights-from BACKEND")
    check_nsd_tolerance(nsd_tolerance)  # before the run is looked up or any case loaded
    if more_runs or cv:
        _cross_validate([run, *more_runs], cv, data=data, split=split, checkpoint=checkpoint, out_dir=out_dir,
                        overwrite=overwrite, device=device, weights_from=weights_from, nsd_tolerance=nsd_tolerance)
        return
    run_dir = resolve_run(run)
    summary = evaluate_run(run_dir, data=data, split=split, checkpoint=checkpoint,
                           out_dir=Path(out_dir) if out_dir else None, device=device, weights_from=weights_from,
                           shots=shots, pack=pack, seed=seed, overwrite=overwrite, nsd_tolerance_mm=nsd_tolerance,
                           mitigation=mitigation, twirling=twirling, dd=dd)
    headline = [key for key in summary["mean"] if key.startswith(PRINTED)]
    click.echo(f"evaluated {summary['cases']} {split} case(s) of {run_dir}, checkpoint "
               f"{summary['checkpoint_description']}")
    if weights_from is None:
        for key in headline:
            click.echo(f"  {key:<28} {summary['mean'][key]:>9.4f} ± {summary['sd'][key]:.4f}")
    else:
        label = f"{weights_from} {shots} shots" if shots else f"{weights_from} exact"
        label += f" {mitigation}" if mitigation != "none" else ""
        click.echo(f"  {'metric':<28} {'exact weights':>14} {label:>24}")
        for key in headline:
            click.echo(f"  {key:<28} {summary['mean'][key]:>14.4f} {summary['sampled_mean'][key]:>24.4f}")
        for layer in summary["layers"]:
            click.echo(f"  {layer['layer']:<40} weight relative error {layer['weight_relative_error']:.3f}")
    click.echo(f"wrote {summary['out_dir']}")


def _cross_validate(runs: list[str], cv: bool, data: str | None, split: str, checkpoint: str, out_dir: str | None,
                    overwrite: bool, device: str, weights_from: str | None, nsd_tolerance: float) -> None:
    """``--cv RUN RUN ...``: each run evaluated as usual, then mean ± sd over folds printed and written."""
    from ..evaluation.crossval import cross_validate

    if not cv:
        raise ConfigError("RUN: several runs need --cv (cross-validation over their folds)")
    if weights_from is not None:
        raise ConfigError("--weights-from: not available with --cv; evaluate each fold's run on its own")
    summary = cross_validate([resolve_run(r) for r in runs], split=split, checkpoint=checkpoint,
                             out_dir=Path(out_dir) if out_dir else None, device=device, overwrite=overwrite,
                             data=data, nsd_tolerance_mm=nsd_tolerance)
    click.echo(f"cross-validation over {len(runs)} runs (folds {', '.join(str(f) for f in summary['folds'])}), "
               f"{split} split, checkpoint {checkpoint}: mean ± sd over folds")
    for key, stats in summary["metrics"].items():
        if key.startswith(PRINTED):
            click.echo(f"  {key:<28} {stats['mean']:>9.4f} ± {stats['sd']:.4f}")
    click.echo(f"wrote {summary['out_dir']}")
