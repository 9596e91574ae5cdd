"""``hqctf check-data``: the dataset check ``train`` runs up front, alone, with a table of every case."""

from __future__ import annotations

from typing import Any

import click

from ..errors import DataError
from .errors import friendly_errors
from .options import config_options, given_options, merged_config

COLUMNS = ("case", "shape", "spacing (mm)", "orientation")


def _table_rows(report: Any, classes: list[str]) -> list[list[str]]:
    rows = [[*COLUMNS, *classes, "status"]]
    for case in report.cases:
        if case.ok:
            shape = "x".join(str(v) for v in case.shape)
            spacing = "x".join(f"{v:.2f}" for v in case.spacing)
            counts = [str(v) for v in case.label_counts] if case.label_counts is not None else ["-"] * len(classes)
            status = "warning" if case.warnings else "ok"
            rows.append([case.case_id, shape, spacing, case.orientation, *counts, status])
        else:
            rows.append([case.case_id, "-", "-", "-", *["-"] * len(classes), "FAIL"])
    return rows


def _format_table(rows: list[list[str]]) -> list[str]:
    """Left-aligned text columns, right-aligned numbers (the voxel counts)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = [i >= len(COLUMNS) and i < len(rows[0]) - 1 for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if right else cell.ljust(w) for cell, w, right in zip(row, widths, numeric)]
        lines.append("  ".join(cells).rstrip())
    return lines


@click.command("check-data")
@click.argument("data")
@config_options(["label_map", "classes", "structures"])
@click.option("--allow-unlabelled", is_flag=True,
              help="Cases without a label pass with their image checked (a set to predict on).")
@friendly_errors
def check_data(data: str, allow_unlabelled: bool, **options: Any) -> None:
    """Check a dataset as train does up front, with a table of its cases.

    DATA is any --data source: a KiTS, nnU-Net or MSD folder, a folder of DICOM patient folders (CT series +
    RTSTRUCT, read with --structures), or a CSV/JSON list. Checked: readable 3D volumes, image and label shapes and
    affines that agree, finite voxels, labels inside --classes after --label-map, an orientation; DICOM series
    that are one evenly spaced stack, RTSTRUCTs in the CT's frame of reference holding the asked structures.
    Printed per case: stored shape, spacing, orientation, voxels per class; structures missing in a patient are
    warnings. Exit 2 when any case fails (each one listed). Passed cases are cached by the path, size and
    modification time of every file read, so a second check (or train's own) reads nothing again.
    """
    config = merged_config(None, {**given_options(options), "data": data})

    from ..data import check_cases, describe_dataset, parse_label_map
    from ..training.datasetup import check_layout, structures_of, with_dataset_classes

    info = describe_dataset(data)
    config = with_dataset_classes(config, info)
    check_layout(config, info)
    classes = list(config.data.classes)
    report = check_cases(info.cases, label_map=parse_label_map(config.data.label_map), num_classes=len(classes),
                         require_labels=not allow_unlabelled, structures=structures_of(config), classes=classes)
    for line in _format_table(_table_rows(report, classes)):
        click.echo(line)
    notes = [(case.case_id, case.problem) for case in report.failures]
    notes += [(case.case_id, warning) for case in report.cases for warning in case.warnings]
    if notes:
        click.echo("")
    for case_id, text in notes:
        click.echo(f"{case_id}: {text}")
    total, bad = len(report.cases), len(report.failures)
    click.echo(f"{total} case{'s' if total != 1 else ''}: {total - bad} ok, {bad} bad ({report.cached} from the cache)")
    if bad:
        raise DataError(f"{data}: {bad} of {total} case{'s' if total != 1 else ''} failed the check (listed above)")
