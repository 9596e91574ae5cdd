"""``--structures``: which RTSTRUCT structures become which class.

Planning systems name the same organ differently (``Kidney_L``, ``Kidney Left``, ``GTV_1``, ``GTV_Mass_CT``), so a
rule maps aliases and shell-style globs, matched case-insensitively, to a class given by name (one of
``--classes``) or by index:

- on the command line: ``'GTV*:tumor,Kidney_L|Kidney Left:kidney'`` (comma-separated ``NAMES:class`` pairs,
  ``|`` between aliases; the class follows the last ``:``);
- or a YAML file (``.yaml``/``.yml``) for names holding ``,``: either ``pattern: class`` entries
  (``"Kidney_L|Kidney Left": kidney``) or ``class: [pattern, ...]`` entries (``tumor: ["GTV*", "CTV_boost"]``).

Priority, documented once here: a structure name takes the class of the FIRST rule that matches it (put the
specific rule before the glob: ``GTV_Node:node,GTV*:tumor``); where structures of different classes overlap, the
HIGHER class index wins (KiTS order: tumour over kidney), whatever the order of rules or ROIs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import DataError

__all__ = ["StructureMap", "StructureRule", "structure_map"]

OPTION = "--structures"
_YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class StructureRule:
    """Aliases/globs (lower case) that map to one class; ``text`` is the rule as the user wrote it."""

    patterns: tuple[str, ...]
    class_index: int
    text: str

    def matches(self, name: str) -> bool:
        lowered = name.strip().lower()
        return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in self.patterns)


@dataclass(frozen=True)
class StructureMap:
    """The parsed ``--structures`` rules against the run's class names (index 0 is background)."""

    rules: tuple[StructureRule, ...]
    classes: tuple[str, ...]
    spec: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def rule_for(self, name: str) -> StructureRule | None:
        """The first rule matching structure ``name`` (case-insensitive), or None when it is not asked for."""
        return next((rule for rule in self.rules if rule.matches(name)), None)

    def class_of(self, name: str) -> int | None:
        rule = self.rule_for(name)
        return None if rule is None else rule.class_index


def _resolve_class(value: object, classes: Sequence[str], rule_text: str, where: str) -> int:
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
    else:
        lowered = [c.lower() for c in classes]
        if text.lower() not in lowered:
            raise DataError(f"{where}: unknown class {text!r} in {rule_text!r} (classes: {', '.join(classes)})")
        index = lowered.index(text.lower())
    if index == 0:
        raise DataError(f"{where}: {rule_text!r} maps to class 0 ({classes[0]}), the background; give a "
                        "foreground class")
    if not 0 < index < len(classes):
        raise DataError(f"{where}: class index {index} in {rule_text!r} is out of range 1..{len(classes) - 1} "
                        f"(classes: {', '.join(classes)})")
    return index


def _rule(names: str | Sequence[str], class_value: object, classes: Sequence[str], where: str) -> StructureRule:
    aliases = names.split("|") if isinstance(names, str) else [str(n) for n in names]
    patterns = tuple(a.strip().lower() for a in aliases if a.strip())
    text = f"{'|'.join(a.strip() for a in aliases)}:{class_value}"
    if not patterns:
        raise DataError(f"{where}: {text!r} names no structure")
    return StructureRule(patterns, _resolve_class(class_value, classes, text, where), text)


def _rules_from_pairs(spec: str, classes: Sequence[str]) -> list[StructureRule]:
    rules = []
    for pair in (p.strip() for p in spec.split(",")):
        if not pair:
            continue
        names, sep, class_value = pair.rpartition(":")
        if not sep or not names.strip() or not class_value.strip():
            raise DataError(f"{OPTION}: {pair!r} is not NAME:class (e.g. 'GTV*:tumor,Kidney_L|Kidney Left:kidney')")
        rules.append(_rule(names, class_value, classes, OPTION))
    return rules


def _rules_from_yaml(path: Path, classes: Sequence[str]) -> list[StructureRule]:
    where = f"{OPTION} file {path}"
    if not path.is_file():
        raise DataError(f"{where}: not found")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: not valid YAML ({type(exc).__name__})") from exc
    if not isinstance(content, Mapping):
        raise DataError(f"{where}: expected a mapping 'pattern: class' or 'class: [patterns]'")
    rules = []
    for key, value in content.items():
        if isinstance(value, (list, tuple)):  # class: [patterns]
            rules.append(_rule([str(v) for v in value], key, classes, where))
        elif isinstance(value, (str, int)):  # pattern: class
            rules.append(_rule(str(key), value, classes, where))
        else:
            raise DataError(f"{where}: entry {key!r} must map to a class or a list of structure names")
    return rules


def structure_map(spec: str | Path | Mapping[str, object] | StructureMap, classes: Sequence[str]) -> StructureMap:
    """Parse ``--structures`` (pairs, a YAML file path, or an already-loaded mapping) against ``classes``."""
    if isinstance(spec, StructureMap):
        return spec
    classes = tuple(str(c) for c in classes)
    if len(classes) < 2:
        raise DataError(f"{OPTION}: need at least two classes (background and one more), got {list(classes)}")
    if isinstance(spec, Mapping):
        rules = [_rule(str(k), v, classes, OPTION) for k, v in spec.items()]
        text = ",".join(r.text for r in rules)
    elif isinstance(spec, Path) or str(spec).strip().lower().endswith(_YAML_SUFFIXES):
        path = Path(str(spec).strip())
        rules, text = _rules_from_yaml(path, classes), str(path)
    else:
        rules, text = _rules_from_pairs(str(spec), classes), str(spec)
    if not rules:
        raise DataError(f"{OPTION}: no structures given (e.g. 'GTV*:tumor')")
    return StructureMap(rules=tuple(rules), classes=classes, spec=text)
