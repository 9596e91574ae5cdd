"""``hqctf export``: materialize a run's generated-weight layers into a plain smp model."""

from __future__ import annotations

from pathlib import Path

import click

from .errors import friendly_errors
from .evaluate import CHECKPOINT_HELP
from .options import resolve_run


@click.command("export")
@click.argument("run")
@click.argument("out_dir")
@click.option("--checkpoint", default="best", show_default=True, help=CHECKPOINT_HELP)
@friendly_errors
def export(run: str, out_dir: str, checkpoint: str) -> None:
    """Materialize QPG layers into a plain smp model: OUT_DIR/model.pt + model.json."""
    from ..inference.export import export_run

    meta = export_run(resolve_run(run), Path(out_dir), checkpoint=checkpoint)
    click.echo(f"exported {meta['arch']}-{meta['encoder']} ({meta['parameters']:,} parameters), checkpoint "
               f"{meta['checkpoint_description']}, to {out_dir}")
