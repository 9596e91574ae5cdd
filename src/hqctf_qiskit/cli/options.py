"""Options shared by commands that describe a model and its backend (train, circuit-report): one definition each."""

from __future__ import annotations

from typing import Any, Callable

import click

MODEL_OPTIONS = [
    click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML file of options (CLI wins)."),
    click.option("--arch", help="unet, unetplusplus, deeplabv3plus, fpn, pspnet, linknet, manet [unet]."),
    click.option("--encoder", help="smp encoder [resnet18]."),
    click.option("--qpg-layers", help="Roles (encoder, decoder, head, all) or globs; 'none' = classical [decoder]."),
    click.option("--mapping", help="affine, qt or chunked [affine]."),
    click.option("--chunk", type=int, help="Weights per basis state for the chunked mapping [32]."),
    click.option("--reps", type=int, help="Ansatz repetitions [2]."),
    click.option("--rotation", help="ry or ry_rz [ry]."),
    click.option("--entanglement", help="linear, reverse_linear, circular, full [linear]."),
]
BACKEND_OPTIONS = [
    click.option("--backend", help="torch, aer_simulator, aer_simulator_gpu, fake_<device>, ibm_<device> [torch]."),
    click.option("--shots", type=int, help="Shots per circuit (default: exact probabilities)."),
    click.option("--gradient", help="Sampler backends: param-shift or spsa [param-shift]."),
    click.option("--pack/--no-pack", default=None, help="Sampler backends: several channels per wide circuit [off]."),
    click.option("--optimization-level", type=int, help="Transpiler optimization level 0-3 [1]."),
]


def apply_options(options: list[Callable]) -> Callable:
    def decorate(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def merged_config(config_file: str | None, options: dict[str, Any]) -> Any:
    """A validated TrainConfig: YAML values under the command-line options that were given."""
    from ..config.schema import TrainConfig

    values: dict[str, Any] = TrainConfig.from_yaml(config_file) if config_file else {}
    values.update({k: v for k, v in options.items() if v is not None})
    return TrainConfig.from_dict(values, source="options")
