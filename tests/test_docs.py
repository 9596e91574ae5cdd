"""docs/reliability.md cites the test behind each guarantee: every cited test must exist."""

import re

from helpers import REPO_ROOT


def test_every_test_cited_in_reliability_md_exists():
    text = (REPO_ROOT / "docs" / "reliability.md").read_text()
    cited = set(re.findall(r"::(test_\w+)", text))
    files = set(re.findall(r"`(tests/[\w/]+\.py)", text))
    assert len(cited) >= 20 and files
    for path in files:
        assert (REPO_ROOT / path).is_file(), path
    defined = set()
    for path in (REPO_ROOT / "tests").rglob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", path.read_text(), re.M))
    assert not cited - defined, sorted(cited - defined)
