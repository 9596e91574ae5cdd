"""The README's training-options table states defaults; they must be the schema's (the one place they live)."""

import re

from helpers import REPO_ROOT

from hqctf_qiskit.config import TrainConfig


def table_rows() -> list[tuple[list[str], list[str]]]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("### Training options", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`--"):
            continue
        options = [o.strip().strip("`").lstrip("-").replace("-", "_") for o in cells[0].split(" / ")]
        rows.append((options, [d.strip() for d in cells[1].split(" / ")]))
    return rows


def shown(value) -> str:
    if isinstance(value, list):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def same(text: str, value) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(text) == float(value)
    return text == shown(value)


def test_every_default_in_the_readme_table_is_the_schema_default():
    defaults = TrainConfig().to_flat()
    rows = table_rows()
    assert len(rows) >= 12
    checked = 0
    for options, texts in rows:
        assert len(options) == len(texts), (options, texts)
        for option, text in zip(options, texts):
            assert option in defaults, f"README names --{option}, which the schema does not have"
            literal = re.fullmatch(r"`([^`<]*)`", text)
            if literal:  # a value: must be the schema's
                assert same(literal.group(1), defaults[option]), (option, text, defaults[option])
            else:  # a description ("phantom", "exact", "off", a name pattern): the schema default is unset
                assert defaults[option] in (None, False), (option, text, defaults[option])
            checked += 1
    assert checked >= 25
