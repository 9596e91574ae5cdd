"""One line per bad value: ``<where the value came from>: <option>: <problem>``.

``where`` is what the user can find: ``--epochs`` for the command line, ``--config: my.yaml: epochs`` for a
``--config`` file, ``RUN/config.yaml: epochs`` for a run folder's config. Pydantic's validation errors are reworded
into the same short problems the rest of the package uses (``must be a whole number, got 'ten'``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from .fields import OptionError, format_value

Source = str | Mapping[str, str]  # one label for every key (a file), or a label per key (merged sources)

_PROBLEMS = {
    "int_parsing": "must be a whole number", "int_from_float": "must be a whole number",
    "int_type": "must be a whole number", "float_parsing": "must be a number", "float_type": "must be a number",
    "bool_parsing": "must be true or false", "bool_type": "must be true or false", "string_type": "must be text",
    "list_type": "must be a list", "dict_type": "must be a mapping of option: value",
    "literal_error": "unknown value",
}
_BOUNDS = {"greater_than_equal": ("ge", ">="), "greater_than": ("gt", ">"), "less_than_equal": ("le", "<="),
           "less_than": ("lt", "<")}


def label_for(source: Source, key: str, written: str | None = None) -> str:
    """How to name option ``key`` (spelled ``written`` by the user) given where its value came from."""
    if isinstance(source, Mapping):
        if key in source:
            return source[key]
        return f"config: {written or key}"
    return f"{source}: {written or key}"


def problem(error: Mapping[str, Any]) -> str:
    """Pydantic's error record as a short problem: ``must be >= 1, got 0``."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "value_error" and isinstance(ctx.get("error"), Exception):
        return str(ctx["error"])
    if kind == "extra_forbidden":
        return "unknown option"
    if kind in _BOUNDS:
        name, sign = _BOUNDS[kind]
        return f"must be {sign} {format_value(ctx[name])}, got {value}"
    if kind in _PROBLEMS:
        return f"{_PROBLEMS[kind]}, got {value!r}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {value!r}"


def config_error(exc: ValidationError, label: Callable[[str], str],
                 field_keys: Mapping[tuple[str, ...], str]) -> ConfigError:
    """The first error of ``exc`` as one ConfigError line; ``field_keys`` maps a (section, field) to its flat key."""
    error = exc.errors()[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, OptionError):
        return ConfigError(f"{label(cause.key)}: {cause.problem}")
    loc = tuple(str(part) for part in error["loc"])
    key = field_keys.get(loc[:2]) or field_keys.get(loc[:1]) or ".".join(loc)
    return ConfigError(f"{label(key)}: {problem(error)}")
