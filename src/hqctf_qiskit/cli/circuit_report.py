"""``hqctf circuit-report``: per QPG layer, what its circuit costs on a backend (thin: parse, call, print)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..io import atomic_write_text
from .errors import friendly_errors
from .options import LOWRANK_KEYS, config_file_option, config_options, given_options, merged_config, section_keys

# the options of a run that decide its circuits: model, QPG weight source, backend, and the seed (transpiler)
REPORT_KEYS = [*section_keys("model", "weights", "backend", exclude=LOWRANK_KEYS), "seed"]


def make_report(config_file: str | None, options: dict[str, Any]) -> Any:
    from ..hardware.cost import circuit_report_for

    return circuit_report_for(merged_config(config_file, given_options(options)))


@click.command("circuit-report")
@config_file_option()
@config_options(REPORT_KEYS)
@click.option("--json", "json_out", is_flag=False, flag_value="-", default=None, metavar="[PATH]",
              help="Write the report as JSON to PATH (or stdout when no PATH is given; the table is not printed).")
@click.option("--qasm", "qasm_dir", type=click.Path(file_okay=False), help="Write OpenQASM 3 of each circuit here.")
@click.option("--draw", "draw_dir", type=click.Path(file_okay=False), help="Write a PNG diagram of each circuit here.")
@friendly_errors
def circuit_report(config_file: str | None, json_out: str | None, qasm_dir: str | None, draw_dir: str | None,
                   **options: Any) -> None:
    """Per QPG layer: qubits, depth, two-qubit gates and SWAPs on a backend, circuits and shots per training step."""
    report = make_report(config_file, options)
    to_stdout = json_out == "-"
    if not to_stdout:
        click.echo(report.format_table())
    if json_out:
        text = json.dumps(report.to_dict(), indent=2)
        if to_stdout:
            click.echo(text)
        else:
            Path(json_out).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(Path(json_out), text + "\n")
            click.echo(f"wrote {json_out}")
    if qasm_dir:
        paths = report.write_qasm(qasm_dir)
        click.echo(f"wrote {len(paths)} OpenQASM 3 file(s) to {qasm_dir}", err=to_stdout)
    if draw_dir:
        paths = write_drawings(report, draw_dir)
        click.echo(f"wrote {len(paths)} PNG file(s) to {draw_dir}", err=to_stdout)


def write_drawings(report: Any, directory: str) -> list[Path]:
    """Qiskit's matplotlib drawer needs pylatexenc besides matplotlib; say so in one line when it is missing."""
    try:
        return report.write_drawings(directory)
    except ImportError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(f"--draw: {first.strip(chr(34))}") from None
