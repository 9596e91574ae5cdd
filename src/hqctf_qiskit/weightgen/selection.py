"""Which layers of a model get a weight source (QPG, low-rank): fnmatch globs over module names, and roles."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

from torch import nn

from ..errors import ConfigError

# Roles name the parts of an smp model; a role selects the Conv2d layers below that part.
ROLE_PREFIXES: dict[str, tuple[str, ...]] = {
    "encoder": ("encoder.",),
    "decoder": ("decoder.",),
    "head": ("segmentation_head.", "classification_head."),
    "all": ("",),
}
NONE_WORDS = {"none", ""}


def parse_layer_patterns(spec: str | Sequence[str] | None) -> list[str]:
    """Accepts ``"decoder"``, ``"decoder,head"``, ``["encoder.layer4.*"]``, ``"none"`` → a list of patterns."""
    if spec is None:
        return []
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    patterns = [item.strip() for item in items if item.strip()]
    return [] if len(patterns) == 1 and patterns[0].lower() in NONE_WORDS else patterns


def _in_role(name: str, role: str) -> bool:
    return any(name.startswith(prefix) or name == prefix.rstrip(".") for prefix in ROLE_PREFIXES[role])


def select_layers(
    model: nn.Module, patterns: Iterable[str], kinds: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear),
    option: str = "--qpg-layers",
) -> list[str]:
    """Names of the modules (exactly of a type in ``kinds``) matched by any pattern, in model order.

    A role selects only Conv2d layers; a glob may also select Linear layers. Subclasses are skipped because they
    may change the forward (e.g. "same" padding convs). A pattern matching nothing is an error: a typo must not
    silently train a classical model.
    """
    patterns = list(patterns)
    candidates = [(name, m) for name, m in model.named_modules() if type(m) in kinds]
    selected: list[str] = []
    for pattern in patterns:
        if pattern in ROLE_PREFIXES:
            hits = [n for n, m in candidates if type(m) is nn.Conv2d and _in_role(n, pattern)]
        else:
            hits = [n for n, _ in candidates if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ConfigError(
                f"{option}: pattern {pattern!r} matches no layer; use a role ({', '.join(ROLE_PREFIXES)}) "
                f"or a glob over module names such as 'decoder.blocks.*'"
            )
        selected.extend(hits)
    order = {name: i for i, (name, _) in enumerate(candidates)}
    return sorted(set(selected), key=order.__getitem__)


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where the submodule ``name`` (dotted path) is."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
