"""``hqctf predict``: segment an image or a DICOM CT series (or a folder of them) with a run folder or an export
(an export needs no qiskit); write NIfTI, RTSTRUCT or DICOM-SEG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, DataError
from .errors import friendly_errors
from .options import resolve_run

FORMATS = ("nifti", "rtstruct", "seg")  # inference.outputs.FORMATS, repeated so --help imports no torch
TTA_MODES = ("none", "flip")  # inference.model.TTA_MODES, likewise


def _counts(result: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in result["voxels_per_class"].items())


@click.command()
@click.argument("run")
@click.argument("input_path", metavar="INPUT")
@click.argument("output_path", metavar="OUT", required=False)
@click.option("--ensemble", metavar="RUN,RUN,...", help="Average the softmax probabilities of these runs or exports "
              "(e.g. the folds of a cross-validation; same classes and window), then take the argmax. RUN is then "
              "left out: hqctf predict --ensemble A,B INPUT OUT.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="nifti (labels on the input grid), rtstruct "
              "(one ROI per class found, for a planning system) or seg (DICOM-SEG). RTSTRUCT and SEG need a DICOM "
              "series as input  [default: by OUT's suffix: .nii/.nii.gz nifti, .dcm rtstruct; nifti for a folder]")
@click.option("--probabilities", type=click.Path(path_type=Path), help="Also write per-class softmax "
              "probabilities (4D NIfTI x, y, z, class, float32, on the input grid) to this .nii.gz file; for a "
              "folder of cases, to this folder as <case>.nii.gz.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--checkpoint", help="For a run folder: best (falls back to final, then latest, and says so), final "
              "or latest  [default: best]. An export has one set of weights: not allowed there.")
@click.option("--overwrite", is_flag=True, help="Replace outputs that exist.")
@click.option("--tta", type=click.Choice(TTA_MODES), default="none", show_default=True, help="flip: average the "
              "softmax over each axial slice and its left-right, anterior-posterior and both-ways mirror images "
              "(mirrored back); superior-inferior is not an in-plane flip of a 2D slice. 4x the model time.")
@click.option("--keep-largest", metavar="CLASS:N|all,...", help="Per class, keep only the N largest 3D connected "
              "components (26-connectivity); 'all' keeps every one, e.g. kidney:2,tumor:all. Removed voxels become "
              "background.  [default: no filtering (never drops one of two kidneys)]")
@click.option("--min-volume", type=float, metavar="MM3", help="Remove components of any class smaller than this "
              "volume in mm3 (voxel volume from the image's affine).  [default: none removed]")
@friendly_errors
def predict(run: str, input_path: str, output_path: str, fmt: str | None, probabilities: Path | None, device: str,
            checkpoint: str | None, overwrite: bool, ensemble: str | None = None, tta: str = "none",
            keep_largest: str | None = None, min_volume: float | None = None) -> None:
    """Segment INPUT with RUN (a run folder or an export) into OUT.

    \b
    INPUT: a NIfTI/NRRD/MHA image or a folder holding a DICOM CT series;
           OUT a .nii.gz, or a .dcm (RTSTRUCT; --format seg for DICOM-SEG).
    INPUT a folder of cases (image files, DICOM patient folders), OUT a folder:
           OUT/<case>.nii.gz or OUT/<case>.dcm for every case. Cases are named
           by file or folder name (a hash where that holds the PatientID). A case
           that fails with bad input is reported and skipped; exit status 2 then.
    """
    from ..inference.predict import predict as run_predict

    def report(result: dict[str, Any]) -> None:
        if "error" in result:
            click.echo(f"error: {result['error']}", err=True)
        else:
            click.echo(f"wrote {result['output']} {tuple(result['shape'])}: {_counts(result)}")

    if ensemble is not None:
        from ..inference.ensemble import parse_ensemble

        if output_path is not None:
            raise ConfigError(f"{run}: with --ensemble give only INPUT OUT (the models are the --ensemble list)")
        input_path, output_path = run, input_path
        models: Path | list[Path] = [resolve_run(str(p)) for p in parse_ensemble(ensemble)]
    elif output_path is None:
        raise ConfigError("OUT: missing; usage: hqctf predict RUN INPUT OUT (or --ensemble RUN,RUN INPUT OUT)")
    else:
        models = resolve_run(run)
    result = run_predict(models, Path(input_path), Path(output_path), fmt=fmt, probabilities=probabilities,
                         device=device, overwrite=overwrite, checkpoint=checkpoint, tta=tta,
                         keep_largest=keep_largest, min_volume=min_volume, on_case=report)
    if "written" not in result:  # one case
        report(result)
        if result["probabilities"]:
            click.echo(f"wrote {result['probabilities']} (class probabilities)")
    click.echo(f"model: {result['source']}")
    if result.get("failed"):
        raise DataError(f"{input_path}: {len(result['failed'])} of {result['cases']} cases failed (lines above); "
                        f"{len(result['written'])} written to {output_path}")
