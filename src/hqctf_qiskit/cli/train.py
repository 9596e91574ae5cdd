"""``hqctf train``: every run option is generated from the config schema; a ``--config`` file sits under them."""

from __future__ import annotations

from typing import Any

import click

from ..config.schema import FLAT_KEYS
from ..errors import ConfigError
from .errors import friendly_errors
from .options import config_file_option, config_options, given_options, merged_config


@click.command()
@config_file_option()
@config_options(FLAT_KEYS)
@click.option("--resume", type=click.Path(),
              help="Continue the run in this folder from its latest checkpoint (from step 0 if it has none yet); "
                   "the lock of a killed run on this host is taken over.")
@click.option("--yes", is_flag=True, help="Confirm an ibm_* run whose cost is above the guard's limits.")
@friendly_errors
def train(config_file: str | None, resume: str | None, yes: bool, **options: Any) -> None:
    """Train a segmentation model (QPG on the selected layers, or classical with --qpg-layers none)."""
    given = given_options(options)
    if resume and (given or config_file):
        raise ConfigError("--resume: continue with the run's own config.yaml; other options are not allowed")
    config = None if resume else merged_config(config_file, given)  # bad options fail before torch loads

    from ..training.loop import train as run_training

    summary = run_training(config, resume=resume, yes=yes)
    final = summary["final"]
    dice = "  ".join(f"{k[len('val_dice_'):]} {v:.3f}" for k, v in final.items() if k.startswith("val_dice_"))
    click.echo(f"run folder: {summary['run_dir']}")
    click.echo(f"final validation Dice: {dice}")
    for kind, label in (("qpg", "QPG"), ("lowrank", "low-rank")):
        if summary.get(kind):
            counts = summary[kind]
            click.echo(f"trainable parameters: classical {counts['classical_trainable']:,} -> {label} "
                       f"{counts['trainable']:,} (ratio {counts['ratio']:.3f})")
