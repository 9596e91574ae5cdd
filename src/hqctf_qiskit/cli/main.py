"""``hqctf``: the click group and its entry point; each command lives in its own module (parse, call, print)."""

from __future__ import annotations

import click

from .check_data import check_data
from .circuit_report import circuit_report
from .convert import convert
from .errors import run_main, setup_logging
from .evaluate import evaluate
from .experiment import experiment
from .export import export
from .noise_check import noise_check
from .phantom import phantom
from .predict import predict
from .train import train


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """HQC-TF: quantum parameter generation (QPG) for CT segmentation with Qiskit."""
    ctx.obj = {"debug": debug}
    setup_logging(verbose)


for command in (train, evaluate, predict, export, phantom, experiment, circuit_report, check_data, convert,
                noise_check):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point (``hqctf``): the error boundary of ``cli.errors`` around the group."""
    run_main(cli, argv)


if __name__ == "__main__":
    main()
