"""``hqctf predict``: segment a NIfTI volume with a run folder or an export (an export needs no qiskit)."""

from __future__ import annotations

from pathlib import Path

import click

from .errors import friendly_errors
from .options import resolve_run


@click.command()
@click.argument("run")
@click.argument("input_path", metavar="IN.nii.gz")
@click.argument("output_path", metavar="OUT.nii.gz")
@click.option("--device", default="cpu", show_default=True)
@click.option("--checkpoint", default="best", show_default=True, help="For a run folder: best, final or latest.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@friendly_errors
def predict(run: str, input_path: str, output_path: str, device: str, checkpoint: str, overwrite: bool) -> None:
    """Segment a NIfTI volume with a run or an export (an export needs no qiskit)."""
    from ..inference.predict import predict_nifti

    result = predict_nifti(resolve_run(run), Path(input_path), Path(output_path), device=device,
                           overwrite=overwrite)
    click.echo(f"wrote {result['output']} {tuple(result['shape'])}: "
               + ", ".join(f"{k} {v}" for k, v in result["voxels_per_class"].items()))
