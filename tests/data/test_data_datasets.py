"""Case discovery: KiTS folders and CSV/JSON lists, with errors that name the offending path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hqctf_qiskit.data import DataError, discover_cases


def _touch_case(root: Path, case: str, image: str = "imaging.nii.gz", label: str | None = "segmentation.nii.gz"):
    folder = root / case
    folder.mkdir(parents=True, exist_ok=True)
    (folder / image).write_bytes(b"")
    if label:
        (folder / label).write_bytes(b"")


def test_kits_folder_sorted_with_optional_labels_and_plain_nii(tmp_path: Path) -> None:
    _touch_case(tmp_path, "case_00010")
    _touch_case(tmp_path, "case_00002", image="imaging.nii", label="segmentation.nii")
    _touch_case(tmp_path, "case_00005", label=None)
    (tmp_path / "notes").mkdir()  # a folder without imaging is not a case
    (tmp_path / "readme.txt").write_text("x")

    cases = discover_cases(tmp_path)
    assert [c.case_id for c in cases] == ["case_00002", "case_00005", "case_00010"]
    assert cases[0].image == tmp_path / "case_00002/imaging.nii"
    assert cases[0].label == tmp_path / "case_00002/segmentation.nii"
    assert cases[1].label is None
    assert cases[2].label == tmp_path / "case_00010/segmentation.nii.gz"


def test_kits_folder_with_both_suffixes_is_ambiguous(tmp_path: Path) -> None:
    _touch_case(tmp_path, "case_00000")
    (tmp_path / "case_00000/imaging.nii").write_bytes(b"")
    with pytest.raises(DataError, match="case_00000: both imaging.nii.gz and imaging.nii"):
        discover_cases(tmp_path)


def test_empty_folder_and_missing_source(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"^{tmp_path}: no case folders"):
        discover_cases(tmp_path)
    with pytest.raises(DataError, match="no such file or directory"):
        discover_cases(tmp_path / "absent")


def test_csv_list_resolves_relative_paths_and_default_ids(tmp_path: Path) -> None:
    (tmp_path / "scans").mkdir()
    for name in ("a.nii.gz", "a_seg.nii.gz", "b.nii", "c.nii.gz"):
        (tmp_path / "scans" / name).write_bytes(b"")
    listing = tmp_path / "cases.csv"
    listing.write_text(
        "image,label,case_id\n"
        "scans/a.nii.gz,scans/a_seg.nii.gz,\n"
        f"{tmp_path / 'scans/b.nii'},,patient_b\n"
        "scans/c.nii.gz,,\n"
    )
    cases = discover_cases(listing)
    assert [(c.case_id, c.image, c.label) for c in cases] == [
        ("a", tmp_path / "scans/a.nii.gz", tmp_path / "scans/a_seg.nii.gz"),
        ("patient_b", tmp_path / "scans/b.nii", None),
        ("c", tmp_path / "scans/c.nii.gz", None),
    ]


def test_json_list(tmp_path: Path) -> None:
    _touch_case(tmp_path / "data", "case_00001")
    listing = tmp_path / "cases.json"
    listing.write_text(json.dumps([{"image": "data/case_00001/imaging.nii.gz",
                                    "label": "data/case_00001/segmentation.nii.gz"}]))
    [case] = discover_cases(listing)
    assert case.case_id == "case_00001"  # KiTS-named files take the folder name
    assert case.label == tmp_path / "data/case_00001/segmentation.nii.gz"


def test_listed_file_missing_names_list_and_path(tmp_path: Path) -> None:
    (tmp_path / "a.nii.gz").write_bytes(b"")
    listing = tmp_path / "cases.csv"
    listing.write_text("image,label\na.nii.gz,a_seg.nii.gz\n")
    with pytest.raises(DataError) as excinfo:
        discover_cases(listing)
    assert str(excinfo.value) == f"{listing}: line 2: label file {tmp_path / 'a_seg.nii.gz'} does not exist"


def test_duplicate_case_ids(tmp_path: Path) -> None:
    for name in ("x/a.nii.gz", "y/a.nii.gz"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "cases.json"
    listing.write_text(json.dumps([{"image": "x/a.nii.gz"}, {"image": "y/a.nii.gz"}]))
    with pytest.raises(DataError, match=f"^{listing}: duplicate case id 'a'$"):
        discover_cases(listing)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cases.json", "{not json", "malformed JSON"),
        ("cases.json", '{"image": "a.nii.gz"}', "expected a JSON list"),
        ("cases.json", "[]", "no cases listed"),
        ("cases.csv", "path,mask\na,b\n", "needs an 'image' column"),
        ("cases.csv", "image,label\n", "no cases listed"),
        ("cases.txt", "a.nii.gz\n", "unsupported case source"),
    ],
)
def test_bad_lists(tmp_path: Path, name: str, content: str, message: str) -> None:
    listing = tmp_path / name
    listing.write_text(content)
    with pytest.raises(DataError, match=message) as excinfo:
        discover_cases(listing)
    assert str(excinfo.value).startswith(str(listing))


def test_phantom_folder_is_discovered(phantom_dir: Path) -> None:
    cases = discover_cases(phantom_dir)
    assert [c.case_id for c in cases] == [f"case_{i:05d}" for i in range(12)]
    assert all(c.label is not None and c.label.name == "segmentation.nii.gz" for c in cases)
    assert np.all([c.image.is_file() for c in cases])


@pytest.mark.parametrize("bad_id", ["site/c1", "..", "a\\b"])
def test_a_case_id_that_cannot_name_a_file_is_refused_where_it_is_listed(tmp_path: Path, bad_id: str) -> None:
    """An id with '/' used to fail only after inference, when its overlay or prediction was written."""
    for name in ("a.nii.gz", "b.nii.gz"):
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "cases.csv"
    listing.write_text(f"image,case_id\na.nii.gz,a\nb.nii.gz,{bad_id}\n")
    with pytest.raises(DataError) as excinfo:
        discover_cases(listing)
    assert str(excinfo.value).startswith(f"{listing}: line 3: case_id {bad_id!r} ")
    assert "file name" in str(excinfo.value)
    listing = tmp_path / "cases.json"
    listing.write_text(json.dumps([{"image": "a.nii.gz", "case_id": bad_id}]))
    with pytest.raises(DataError, match=f"^{listing}: entry 0: case_id"):
        discover_cases(listing)


def test_listed_cases_remember_where_they_were_listed(tmp_path: Path) -> None:
    (tmp_path / "a.nii.gz").write_bytes(b"")
    listing = tmp_path / "cases.csv"
    listing.write_text("image\na.nii.gz\n")
    assert discover_cases(listing)[0].origin == f"{listing}: line 2"
    _touch_case(tmp_path / "kits", "case_00000")
    assert discover_cases(tmp_path / "kits")[0].origin == str(tmp_path / "kits" / "case_00000")
