"""``--structures``: NAME:class pairs and YAML files, aliases, globs, case, class names/indices, priority, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hqctf_qiskit.data.dicom import structure_map
from hqctf_qiskit.errors import DataError

CLASSES = ["background", "kidney", "tumor"]


def test_pairs_aliases_globs_case_insensitive() -> None:
    mapping = structure_map("GTV*:tumor, Kidney_L|Kidney Left:kidney", CLASSES)
    assert mapping.num_classes == 3
    assert mapping.class_of("GTV_Mass_CT") == 2
    assert mapping.class_of("gtv") == 2
    assert mapping.class_of("KIDNEY LEFT") == 1
    assert mapping.class_of(" kidney_l ") == 1
    assert mapping.class_of("Kidney_R") is None
    assert mapping.class_of("CTV") is None


def test_class_by_index_and_name_case() -> None:
    mapping = structure_map("Liver:1,GTV*:TUMOR", CLASSES)
    assert mapping.class_of("liver") == 1 and mapping.class_of("GTVp") == 2


def test_first_matching_rule_wins() -> None:
    mapping = structure_map("GTV_Node:kidney,GTV*:tumor", CLASSES)
    assert mapping.class_of("GTV_node") == 1
    assert mapping.class_of("GTV_1") == 2


def test_yaml_both_forms(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.yaml"
    pairs.write_text('"Kidney_L|Kidney, left": kidney\n"GTV*": 2\n')
    mapping = structure_map(pairs, CLASSES)
    assert mapping.class_of("kidney, left") == 1 and mapping.class_of("GTV2") == 2
    lists = tmp_path / "lists.yml"
    lists.write_text("tumor: [GTV*, 'CTV boost']\nkidney:\n  - Kidney_R\n")
    mapping = structure_map(str(lists), CLASSES)
    assert mapping.class_of("ctv BOOST") == 2 and mapping.class_of("kidney_r") == 1
    assert mapping.spec == str(lists)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("GTV*:tumour",
         r"--structures: unknown class 'tumour' in 'GTV\*:tumour' \(classes: background, kidney, tumor\)"),
        ("GTV*:background", r"--structures: .*class 0 \(background\), the background"),
        ("GTV*:0", r"--structures: .*the background"),
        ("GTV*:3", r"--structures: class index 3 .* out of range 1\.\.2"),
        ("GTV", r"--structures: 'GTV' is not NAME:class"),
        (":tumor", r"--structures: ':tumor' is not NAME:class"),
        (" , ", r"--structures: no structures given"),
        ("missing.yaml", r"--structures file missing\.yaml: not found"),
    ],
)
def test_bad_specs_are_one_line_naming_the_option(spec: str, message: str) -> None:
    with pytest.raises(DataError, match=message) as info:
        structure_map(spec, CLASSES)
    assert "\n" not in str(info.value)


def test_bad_yaml_content(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(DataError, match=r"--structures file .*s\.yaml: expected a mapping"):
        structure_map(path, CLASSES)
    path.write_text("tumor: [GTV\n")
    with pytest.raises(DataError, match=r"not valid YAML"):
        structure_map(path, CLASSES)
    path.write_text("GTV: nope\n")
    with pytest.raises(DataError, match=r"--structures file .*: unknown class 'nope'"):
        structure_map(path, CLASSES)
