"""The dataset check on DICOM patient folders: every bad case named in one line, and a cache keyed by every file of
the series and by the ``--structures`` rules, so a second check (train's own) reads no DICOM series again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dicom_synth import square, write_patient, write_patients, write_rtstruct

from hqctf_qiskit.data import check as check_module
from hqctf_qiskit.data import discover_cases
from hqctf_qiskit.data.check import check_cases

CLASSES = ["background", "tumor"]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The case folders the check reads (the real loader, counted)."""
    calls: list[str] = []
    real = check_module.load_case

    def counting(image, label=None, **kwargs):
        calls.append(Path(image).name)
        return real(image, label, **kwargs)

    monkeypatch.setattr(check_module, "load_case", counting)
    return calls


def _touch(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_a_second_check_reads_no_series_and_a_changed_slice_rechecks_its_patient(tmp_path: Path,
                                                                                  reads: list[str]) -> None:
    cases = discover_cases(write_patients(tmp_path / "data", ["p1", "p2"]))
    first = check_cases(cases, structures="GTV*:tumor", classes=CLASSES)
    assert first.ok and reads == ["p1", "p2"]
    assert first.cases[0].label_counts == [8 * 8 * 4 - 4, 4] and first.cases[0].shape == (8, 8, 4)
    second = check_cases(cases, structures="GTV*:tumor", classes=CLASSES)
    assert second.cached == 2 and reads == ["p1", "p2"] and second.cases == first.cases
    _touch(tmp_path / "data" / "p2" / "series1" / "IM2")
    check_cases(cases, structures="GTV*:tumor", classes=CLASSES)
    assert reads == ["p1", "p2", "p2"], "a touched slice is a changed series"
    (tmp_path / "data" / "p1" / "series1" / "notes.txt").write_text("added")
    check_cases(cases, structures="GTV*:tumor", classes=CLASSES)
    assert reads[-1] == "p1", "a file added below the folder changes its key"


def test_the_structures_rules_are_part_of_the_key(tmp_path: Path, reads: list[str]) -> None:
    cases = discover_cases(write_patients(tmp_path / "data", ["p1"]))
    check_cases(cases, structures="GTV*:tumor", classes=CLASSES)
    check_cases(cases, structures="gtv_primary|GTV:tumor", classes=CLASSES)
    check_cases(cases, structures="GTV*:tumor", classes=["background", "lesion", "tumor"])
    assert reads == ["p1", "p1", "p1"]


def test_an_absent_structure_is_a_warning_kept_by_the_cache(tmp_path: Path, reads: list[str]) -> None:
    cases = discover_cases(write_patients(tmp_path / "data", ["p1"]))
    options = dict(structures="GTV*:tumor,Kidney*:kidney", classes=["background", "kidney", "tumor"])
    for _ in range(2):
        report = check_cases(cases, **options)
        [case] = report.cases
        assert case.ok and case.absent_classes == [1]
        assert any("no structure matching 'Kidney*:kidney'" in w for w in case.warnings)
    assert report.cached == 1 and reads == ["p1"]


def test_without_structures_every_rtstruct_case_fails_naming_the_option(tmp_path: Path, reads: list[str]) -> None:
    cases = discover_cases(write_patients(tmp_path / "data", ["p1", "p2"]))
    report = check_cases(cases, classes=CLASSES)
    assert [c.problem.split(" RTSTRUCT ")[0] for c in report.failures] == ["--structures: needed to read the"] * 2
    assert reads == []


def test_every_bad_patient_is_named_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_patients(root, ["good"])
    write_patient(root / "cut", study_uid="1.2.3.1", series_uid="1.2.3.2")
    cut = root / "cut" / "series1" / "IM1"
    cut.write_bytes(cut.read_bytes()[:-40])  # pixel data cut short
    write_patient(root / "nothing_asked", rois={"Bladder": [square(2.0, 1.5, 1.5, 3.5, 3.5)]}, study_uid="1.2.4.1",
                  series_uid="1.2.4.2")
    write_patient(root / "other_frame", study_uid="1.2.5.1", series_uid="1.2.5.2")
    rtstruct = root / "other_frame" / "rt" / "RS_export.dcm"
    write_rtstruct(rtstruct, frame_uid="1.2.99.9", series_uid="1.2.5.2", study_uid="1.2.5.1",
                   rois={"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)]})
    write_patient(root / "no_rtstruct", study_uid="1.2.6.1", series_uid="1.2.6.2")
    (root / "no_rtstruct" / "rt" / "RS_export.dcm").unlink()
    report = check_cases(discover_cases(root), structures="GTV*:tumor", classes=CLASSES)
    problems = {case.case_id: case.problem for case in report.failures}
    assert set(problems) == {"cut", "nothing_asked", "other_frame", "no_rtstruct"}
    assert problems["cut"].startswith(f"{cut}: ") and "truncated" in problems["cut"]
    assert problems["nothing_asked"] == (f"{root / 'nothing_asked' / 'rt' / 'RS_export.dcm'}: none of the structures "
                                         "asked for (GTV*:tumor) is in this RTSTRUCT; it has: Bladder")
    assert problems["other_frame"].startswith(f"{rtstruct}: frame of reference 1.2.99.9 is not")
    assert problems["no_rtstruct"].startswith(f"{root / 'no_rtstruct'}: no RTSTRUCT file found")
    assert all("\n" not in problem for problem in problems.values())
