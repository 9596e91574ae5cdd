"""Command-line options generated from the config schema, and the config they build (a YAML file under them).

Each run option (``--epochs``, ``--mapping``, ...) is a :class:`ConfigOption` made from its schema field: help,
metavar, bounds and the default shown in ``--help`` all come from the field, so nothing is repeated here. Values
reach the schema as typed (strings), so a bad value gets the schema's message naming ``--option``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, get_args

import click

from ..config.fields import default_text, option_of, range_text
from ..config.files import options_file
from ..config.schema import ALIASES, FLAT_KEYS, TrainConfig, field_info

CONFIG_FILE_HELP = "YAML file of options (keys as in --help, dashes or underscores); command-line options win."
# circuit-report describes circuits: the low-rank baseline's options do not apply there
LOWRANK_KEYS = ("lowrank_layers", "rank", "rank_budget")


def flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def section_keys(*sections: str, exclude: Iterable[str] = ()) -> list[str]:
    """The flat keys of these config sections, in schema order."""
    skip = set(exclude)
    return [key for key, (section, _) in FLAT_KEYS.items() if section in sections and key not in skip]


class ConfigOption(click.Option):
    """A click option for one config key. Its help and default are looked up when --help is shown (a choice
    list may live in a module that imports qiskit; a command that does not show help never imports it)."""

    def __init__(self, *args: Any, config_key: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config_key = config_key

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = option_of(field_info(self.config_key)).help_text()
        return super().get_help_record(ctx)

    def get_help_extra(self, ctx: click.Context) -> Any:
        extra = super().get_help_extra(ctx)
        info = field_info(self.config_key)
        shown = default_text(info)
        if shown is not None:
            extra["default"] = shown
        bounds = range_text(info)
        if bounds is not None:
            extra["range"] = bounds
        return extra


def config_option(key: str) -> Callable[[Callable], Callable]:
    """The option for config ``key``: ``--key VALUE``, or ``--key/--no-key`` for a switch; None when not given."""
    info = field_info(key)
    if info.annotation is bool:
        return click.option(f"{flag(key)}/--no-{flag(key)[2:]}", key, cls=ConfigOption, config_key=key,
                            default=None)
    option = option_of(info)
    metavar = option.metavar or _metavar(info.annotation)
    old_names = [flag(alias) for alias in option.aliases]  # still accepted: --image-size for --patch-size
    return click.option(flag(key), *old_names, key, cls=ConfigOption, config_key=key, default=None, metavar=metavar)


def _metavar(annotation: Any) -> str:
    """INTEGER, FLOAT or TEXT, as click names its types (values are passed on as typed, for the schema)."""
    kinds = {arg for arg in (get_args(annotation) or (annotation,)) if arg is not type(None)}
    if kinds == {int}:
        return "INTEGER"
    if kinds == {float}:
        return "FLOAT"
    return "TEXT"


def config_options(keys: Iterable[str]) -> Callable[[Callable], Callable]:
    """Decorate a command with one generated option per config key, listed in the order given."""
    decorators = [config_option(key) for key in keys]

    def decorate(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return decorate


def config_file_option() -> Callable[[Callable], Callable]:
    return click.option("--config", "config_file", type=click.Path(dir_okay=False), help=CONFIG_FILE_HELP)


def given_options(options: dict[str, Any]) -> dict[str, Any]:
    """The config options given on the command line (click leaves the others None)."""
    return {key: value for key, value in options.items() if key in FLAT_KEYS and value is not None}


def merged_config(config_file: str | None, given: dict[str, Any]) -> TrainConfig:
    """A validated TrainConfig: a ``--config`` file's values under the command-line options that were given.

    Every value keeps the name of where it came from (``--epochs`` or ``--config: my.yaml: epochs``), so a
    bad one is reported there.
    """
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    if config_file:
        file_values, where = options_file(Path(config_file))
        for written, value in file_values.items():
            key = written.replace("-", "_")
            key = ALIASES.get(key, key)  # an old name in the file and the new one on the command line: one option
            values[key], labels[key] = value, f"{where}: {written}"
    for key, value in given.items():
        values[key], labels[key] = value, flag(key)
    return TrainConfig.from_flat(values, source=labels)


def resolve_run(run: str) -> Path:
    """A RUN argument: a run or export folder, or ``latest`` (the newest run under the runs root)."""
    from ..training.runs import latest_run

    return latest_run() if run == "latest" else Path(run)
