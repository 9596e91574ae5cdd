"""What the command line and config files need to know about a config field, declared next to the field's type.

A field of a config section is ``Annotated[type, Option("help"), Field(constraints)]``: its type and constraints
validate it, its :class:`Option` gives the help text, its allowed names and how a ``None`` default reads. The CLI
builds its options from these (``cli/options.py``), so no help text repeats a default or a list of choices by hand.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic.fields import FieldInfo


def resolve(source: Any) -> Any:
    """``"module:NAME"`` (relative to this package, e.g. ``"..models:ARCHITECTURES"``) → that object, imported
    now; anything else as it is. Registries are named this way so that they are imported only when needed."""
    if isinstance(source, str) and ":" in source:
        module, _, name = source.partition(":")
        return getattr(importlib.import_module(module, __package__), name)
    return source


@dataclass(frozen=True)
class Option:
    """CLI/config-file metadata of one field.

    ``help`` may hold ``{choices}``, filled in only when shown. ``choices``: the allowed names (a tuple, a callable
    returning them, or a ``"module:NAME"`` registry), checked and shown; or a text describing open-ended names
    (``fake_<device>``), shown only. ``check``: a ``"module:function"`` (or callable) that raises an ``HqctfError``
    for a bad value — the rule of the module that owns it, used here instead of writing the rule again.
    ``key`` is the flat option name (config files, ``--key``) when it differs from the field name; ``aliases``
    are older names of the option, still read from config files, old run folders and the command line.
    """

    help: str
    choices: Any = None
    check: Any = None
    default_text: str | None = None  # how a None default reads in --help ("exact probabilities")
    key: str | None = None
    metavar: str | None = None
    aliases: tuple[str, ...] = ()

    def choice_names(self) -> list[str] | str | None:
        """The allowed names (or the text describing them), resolving the registry behind them now."""
        source = resolve(self.choices)
        if source is None or isinstance(source, str):
            return source
        names = source() if callable(source) else source
        return names if isinstance(names, str) else [str(n) for n in names]

    def help_text(self) -> str:
        """The help with its ``{choices}`` filled in."""
        if "{choices}" not in self.help:
            return self.help
        names = self.choice_names() or []
        return self.help.replace("{choices}", names if isinstance(names, str) else ", ".join(names))


class OptionError(ValueError):
    """A rule about one option broken in a model validator (where pydantic cannot tell which field it was)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


def option_of(info: FieldInfo) -> Option:
    """The :class:`Option` of a field (every config field has one)."""
    for item in info.metadata:
        if isinstance(item, Option):
            return item
    raise TypeError(f"config field without an Option: {info!r}")


def bounds_of(info: FieldInfo) -> dict[str, Any]:
    """The numeric constraints of a field (``ge``, ``gt``, ``le``, ``lt``) as pydantic holds them."""
    found: dict[str, Any] = {}
    for item in info.metadata:
        for name in ("ge", "gt", "le", "lt"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def range_text(info: FieldInfo) -> str | None:
    """Bounds the way click shows an IntRange: ``x>=1``, ``x>0``, ``0<=x<=3``."""
    bounds = bounds_of(info)
    low = ("ge", ">=", "<=") if "ge" in bounds else ("gt", ">", "<") if "gt" in bounds else None
    high = ("le", "<=") if "le" in bounds else ("lt", "<") if "lt" in bounds else None
    if low and high:
        return f"{bounds[low[0]]}{low[2]}x{high[1]}{bounds[high[0]]}"
    if low:
        return f"x{low[1]}{bounds[low[0]]}"
    if high:
        return f"x{high[1]}{bounds[high[0]]}"
    return None


def format_value(value: Any) -> str:
    """A config value the way one types it on the command line: ``0.001``, ``-79,304``, ``on``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)


def default_text(info: FieldInfo) -> str | None:
    """The default as --help shows it: the schema's value, or the Option's words for a ``None`` default."""
    value = info.get_default(call_default_factory=True)
    if value is None:
        return option_of(info).default_text
    return format_value(value)
