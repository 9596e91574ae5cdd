"""The dataset check: every case validated by the loader, its geometry and label counts reported, results cached."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hqctf_qiskit.data import DataError, discover_cases, write_phantom_dataset
from hqctf_qiskit.data import check as check_module
from hqctf_qiskit.data.check import MIN_IN_PLANE, check_cases
from hqctf_qiskit.data.check_cache import CheckCache


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh check cache per test (the session fixture's cache is shared)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_phantom_dataset(root, cases=3, seed=2, shape=(24, 20, 8))
    return root


@pytest.fixture
def load_counter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every volume the check reads (the real loader, counted)."""
    calls: list[str] = []
    real = check_module.load_case

    def counting(image, label=None, **kwargs):
        calls.append(Path(image).parent.name)
        return real(image, label, **kwargs)

    monkeypatch.setattr(check_module, "load_case", counting)
    return calls


def _rewrite(path: Path, change) -> None:
    img = nib.load(path)
    array = np.asanyarray(img.dataobj).copy()
    array = change(array)
    rewritten = nib.Nifti1Image(array, img.affine, img.header)
    rewritten.set_data_dtype(array.dtype)  # the header's int16 would turn NaN into a number
    nib.save(rewritten, path)


def test_good_dataset_reports_geometry_orientation_and_label_counts(dataset: Path, cache_dir: Path) -> None:
    report = check_cases(discover_cases(dataset), num_classes=3)
    assert report.ok and not report.failures
    first = report.cases[0]
    assert first.case_id == "case_00000" and first.ok and first.problem is None
    assert first.shape == (24, 20, 8)
    assert first.orientation == "".join(nib.orientations.aff2axcodes(nib.load(first.image).affine)) == "RAS"
    assert first.spacing == pytest.approx(nib.load(first.image).header.get_zooms()[:3])
    label = np.asanyarray(nib.load(first.label).dataobj)
    assert first.label_counts == [int((label == c).sum()) for c in range(3)]
    assert sum(first.label_counts) == 24 * 20 * 8


def test_orientation_is_the_stored_axis_order(tmp_path: Path, cache_dir: Path) -> None:
    folder = tmp_path / "data" / "case_a"
    folder.mkdir(parents=True)
    lps = np.diag([-0.8, -0.8, 2.5, 1.0])
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 4), np.int16), lps), folder / "imaging.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 4), np.uint8), lps), folder / "segmentation.nii.gz")
    [case] = check_cases(discover_cases(tmp_path / "data"), num_classes=2).cases
    assert case.orientation == "LPS" and case.spacing == pytest.approx((0.8, 0.8, 2.5))


def test_every_bad_case_is_found_not_only_the_first(dataset: Path, cache_dir: Path) -> None:
    _rewrite(dataset / "case_00000/imaging.nii.gz", lambda a: np.where(np.arange(a.size).reshape(a.shape) == 7,
                                                                      np.nan, a.astype(np.float32)))
    _rewrite(dataset / "case_00002/segmentation.nii.gz", lambda a: np.where(a == 2, 5, a).astype(np.uint8))
    report = check_cases(discover_cases(dataset), num_classes=3)
    assert not report.ok
    assert [c.case_id for c in report.failures] == ["case_00000", "case_00002"]
    assert report.failures[0].problem == f"{dataset / 'case_00000/imaging.nii.gz'}: 1 non-finite voxels (NaN/Inf)"
    assert "label values [5] outside [0, 3)" in report.failures[1].problem
    with pytest.raises(DataError) as excinfo:
        report.raise_first_failure(dataset)
    message = str(excinfo.value)
    assert message.startswith(f"{dataset / 'case_00000/imaging.nii.gz'}: 1 non-finite voxels (NaN/Inf)")
    assert "1 more bad case" in message and f"hqctf check-data {dataset}" in message


def test_label_map_is_applied_before_the_class_range(dataset: Path, cache_dir: Path) -> None:
    cases = discover_cases(dataset)
    assert not check_cases(cases, num_classes=2).ok  # tumor (2) is outside two classes ...
    mapped = check_cases(cases, label_map={1: 1, 2: 1}, num_classes=2)  # ... unless mapped to kidney
    assert mapped.ok
    assert all(len(c.label_counts) == 2 for c in mapped.cases)


def test_a_case_without_label_names_the_list_and_line(dataset: Path, tmp_path: Path, cache_dir: Path) -> None:
    listing = tmp_path / "cases.csv"
    listing.write_text("image,label\n"
                       "data/case_00000/imaging.nii.gz,data/case_00000/segmentation.nii.gz\n"
                       "data/case_00001/imaging.nii.gz,\n")
    cases = discover_cases(listing)
    report = check_cases(cases, num_classes=3)
    assert [c.problem for c in report.failures] == [f"{listing}: line 3: no label"]
    assert check_cases(cases, num_classes=3, require_labels=False).ok  # a set to predict on


def test_a_kits_case_without_segmentation_names_its_folder(dataset: Path, cache_dir: Path) -> None:
    (dataset / "case_00001/segmentation.nii.gz").unlink()
    report = check_cases(discover_cases(dataset), num_classes=3)
    assert [c.problem for c in report.failures] == [f"{dataset / 'case_00001'}: no segmentation.nii(.gz)"]


def test_thin_slices_warn(tmp_path: Path, cache_dir: Path) -> None:
    folder = tmp_path / "data" / "case_a"
    folder.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros((64, 1, 5), np.float32), np.eye(4)), folder / "imaging.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((64, 1, 5), np.uint8), np.eye(4)), folder / "segmentation.nii.gz")
    [case] = check_cases(discover_cases(tmp_path / "data"), num_classes=2).cases
    assert case.ok and len(case.warnings) == 1
    assert case.warnings[0].startswith(f"{folder / 'imaging.nii.gz'}: axial slices are 64x1 voxels")
    assert str(MIN_IN_PLANE) in case.warnings[0]
    [again] = check_cases(discover_cases(tmp_path / "data"), num_classes=2).cases
    assert again.warnings == case.warnings, "a cached result keeps its warnings"


# -- cache ------------------------------------------------------------------------------------------------------
def test_second_check_reads_no_volume(dataset: Path, cache_dir: Path, load_counter: list[str]) -> None:
    cases = discover_cases(dataset)
    first = check_cases(cases, num_classes=3)
    assert load_counter == ["case_00000", "case_00001", "case_00002"]
    second = check_cases(cases, num_classes=3)
    assert load_counter == ["case_00000", "case_00001", "case_00002"], "cached cases are not read again"
    assert second.cases == first.cases
    assert second.cached == 3 and first.cached == 0


def test_touching_a_file_rechecks_only_its_case(dataset: Path, cache_dir: Path, load_counter: list[str]) -> None:
    cases = discover_cases(dataset)
    check_cases(cases, num_classes=3)
    label = dataset / "case_00001/segmentation.nii.gz"
    stat = label.stat()
    os.utime(label, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    load_counter.clear()
    check_cases(cases, num_classes=3)
    assert load_counter == ["case_00001"]


def test_the_options_are_part_of_the_key(dataset: Path, cache_dir: Path, load_counter: list[str]) -> None:
    cases = discover_cases(dataset)
    check_cases(cases, num_classes=3)
    load_counter.clear()
    check_cases(cases, label_map={1: 1, 2: 1}, num_classes=2)
    assert len(load_counter) == 3, "another label map is another check"


def test_failures_are_not_cached(dataset: Path, cache_dir: Path, load_counter: list[str]) -> None:
    _rewrite(dataset / "case_00001/imaging.nii.gz", lambda a: np.full(a.shape, np.inf, np.float32))
    cases = discover_cases(dataset)
    assert not check_cases(cases, num_classes=3).ok
    load_counter.clear()
    assert not check_cases(cases, num_classes=3).ok
    assert load_counter == ["case_00001"], "the bad case is read again, the good ones come from the cache"


def test_a_corrupt_cache_file_is_ignored_and_rebuilt(dataset: Path, cache_dir: Path,
                                                     load_counter: list[str]) -> None:
    cases = discover_cases(dataset)
    check_cases(cases, num_classes=3)
    entries = sorted(CheckCache().folder.glob("*.json"))
    assert len(entries) == 3
    entries[0].write_text("{truncated")
    entries[1].write_text(json.dumps({"key": "something else", "result": {}}))
    load_counter.clear()
    assert check_cases(cases, num_classes=3).ok
    assert len(load_counter) == 2
    load_counter.clear()
    assert check_cases(cases, num_classes=3).ok and load_counter == [], "the two entries were rebuilt"


def test_an_unwritable_cache_only_costs_time(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             load_counter: list[str], caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(blocker / "cache"))  # a folder under a file cannot be made
    cases = discover_cases(dataset)
    assert check_cases(cases, num_classes=3).ok
    assert check_cases(cases, num_classes=3).ok
    assert len(load_counter) == 6
    assert "dataset check cache" in caplog.text


def test_the_cache_lives_under_the_cache_dir(cache_dir: Path) -> None:
    assert CheckCache().folder.parent == cache_dir
