"""``hqctf convert``: any readable case (DICOM + RTSTRUCT, nnU-Net, MSD, NRRD/MHA, NIfTI) → KiTS layout NIfTI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from .errors import friendly_errors
from .options import config_options, given_options, merged_config


def _describe(converted: Any, classes: list[str]) -> str:
    text = f"{converted.case_id}: {converted.image} ({'x'.join(map(str, converted.shape))}, {converted.image_dtype})"
    if converted.label is None:
        return text + ", no label"
    counts = ", ".join(f"{name} {n}" for name, n in zip(classes, converted.voxels_per_class))
    absent = [classes[c] for c in converted.absent_classes]
    return text + f", {converted.label.name} (voxels: {counts})" + (f"; absent: {', '.join(absent)}" if absent else "")


@click.command()
@click.argument("case")
@click.argument("out_dir")
@click.option("--label", type=click.Path(dir_okay=False),
              help="The label of a single CASE: an image file on its grid, or an RTSTRUCT (for a DICOM folder).")
@click.option("--case", "case_id", metavar="ID", help="CASE is a dataset (any --data source): convert its case ID.")
@click.option("--all", "all_cases", is_flag=True,
              help="CASE is a dataset: convert every case into OUT_DIR/<case id>/ (a KiTS dataset for --data).")
@config_options(["structures", "classes", "label_map"])
@friendly_errors
def convert(case: str, out_dir: str, label: str | None, case_id: str | None, all_cases: bool,
            **options: Any) -> None:
    """Write CASE as OUT_DIR/imaging.nii.gz (HU, int16 or float32) + segmentation.nii.gz (uint8 classes).

    \b
    CASE is one case:
      - a DICOM patient folder: a CT series and an RTSTRUCT anywhere below it (--structures maps structures to
        --classes), or a DICOM CT folder with --label RTSTRUCT;
      - an image file (NIfTI, NRRD, MHA/MHD) with --label its label image (same grid);
    or, with --case ID or --all, a dataset (a folder of DICOM patient folders, nnU-Net or MSD dataset folder,
    KiTS folder, CSV/JSON list; case ids as check-data lists them). Without --classes, an nnU-Net/MSD dataset's
    classes are those of its dataset.json.

    The case is read and checked as train reads it and written on its RAS grid. OUT_DIR must be new or empty;
    each file is written atomically. Without a label, only imaging.nii.gz is written.
    """
    from ..data.convert import case_to_convert, check_empty_output, convert_case
    from ..data.labels import parse_label_map
    from ..training.datasetup import check_layout, structures_of, with_dataset_classes

    if case_id is not None and all_cases:
        raise ConfigError("--case: give --case ID or --all, not both")
    if label is not None and (case_id is not None or all_cases):
        raise ConfigError("--label: only for a single CASE (a dataset lists its own labels)")
    out = Path(out_dir)
    check_empty_output(out)
    dataset = case_id is not None or all_cases
    config = merged_config(None, {**given_options(options), **({"data": case} if dataset else {})})
    if dataset:
        from ..data import describe_dataset

        info = describe_dataset(case)
        config = with_dataset_classes(config, info)
        check_layout(config, info)
        cases = info.cases
        if case_id is not None:
            cases = [c for c in cases if c.case_id == case_id]
            if not cases:
                shown = ", ".join(c.case_id for c in info.cases[:8]) + (", ..." if len(info.cases) > 8 else "")
                raise ConfigError(f"--case: no case {case_id!r} in {case} (cases: {shown})")
        targets = [(paths, out if case_id is not None else out / paths.case_id) for paths in cases]
    else:
        targets = [(case_to_convert(Path(case), Path(label) if label else None), out)]
    classes = list(config.data.classes)
    label_map, structures = parse_label_map(config.data.label_map), structures_of(config)
    for paths, target in targets:
        converted = convert_case(paths, target, classes=classes, label_map=label_map, structures=structures)
        click.echo(_describe(converted, classes))
