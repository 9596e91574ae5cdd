"""``hqctf check-data``: the dataset check alone, through the real command line, with a per-case table."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hqctf_qiskit.data import write_phantom_dataset

from helpers import SHARED_DATA, hqctf, run_cli


@pytest.fixture(scope="module")
def good_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("check-data") / "good"
    write_phantom_dataset(root, cases=3, seed=4, shape=(20, 16, 8))
    return root


def _rewrite(path: Path, change) -> None:
    img = nib.load(path)
    array = change(np.asanyarray(img.dataobj).copy())
    out = nib.Nifti1Image(array, img.affine, img.header)
    out.set_data_dtype(array.dtype)
    nib.save(out, path)


def _row(stdout: str, case_id: str) -> list[str]:
    """The table row of ``case_id`` (or the header for "case"), split on blanks (log lines come before it)."""
    [line] = [line for line in stdout.splitlines() if line.startswith(case_id + " ")]
    return line.split()


def _env(tmp_path: Path) -> dict[str, str]:
    """A cache of the test's own, so "from the cache" counts are exact."""
    return {**os.environ, "HQCTF_CACHE_DIR": str(tmp_path / "cache")}


def _in_process(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """The same entry point without a fresh interpreter (seconds saved for the option variants)."""
    return run_cli(capsys, "check-data", *args)


def test_a_good_dataset_prints_its_table_and_exits_0(good_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    result = hqctf("check-data", str(good_data), env=_env(tmp_path))
    assert _row(result.stdout, "case") == ["case", "shape", "spacing", "(mm)", "orientation", "background", "kidney",
                                           "tumor", "status"]
    label = np.asanyarray(nib.load(good_data / "case_00001/segmentation.nii.gz").dataobj)
    zooms = nib.load(good_data / "case_00001/imaging.nii.gz").header.get_zooms()
    row = _row(result.stdout, "case_00001")
    assert row[:4] == ["case_00001", "20x16x8", "x".join(f"{z:.2f}" for z in zooms), "RAS"]
    assert row[4:7] == [str(int((label == c).sum())) for c in range(3)]
    assert row[7] == "ok"
    assert result.stdout.splitlines()[-1] == "3 cases: 3 ok, 0 bad (0 from the cache)"
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path / "cache"))
    code, out, _ = _in_process(capsys, str(good_data))
    assert code == 0 and out.splitlines()[-1] == "3 cases: 3 ok, 0 bad (3 from the cache)"
    assert _row(out, "case_00001") == row


def test_every_bad_case_is_listed_and_exits_2(good_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad"
    shutil.copytree(good_data, data)
    nan_image = data / "case_00000/imaging.nii.gz"
    _rewrite(nan_image, lambda a: np.where(np.indices(a.shape).sum(0) == 5, np.nan, a.astype(np.float32)))
    bad_label = data / "case_00002/segmentation.nii.gz"
    _rewrite(bad_label, lambda a: np.where(np.indices(a.shape).sum(0) == 3, 7, a).astype(np.uint8))
    result = hqctf("check-data", str(data), env=_env(tmp_path), check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert _row(result.stdout, "case_00000")[-1] == "FAIL"
    assert _row(result.stdout, "case_00001")[-1] == "ok"
    assert _row(result.stdout, "case_00002")[-1] == "FAIL"
    assert f"case_00000: {nan_image}: " in result.stdout and "non-finite voxels (NaN/Inf)" in result.stdout
    assert re.search(rf"case_00002: {re.escape(str(bad_label))}: label values \[7\] outside \[0, 3\)", result.stdout)
    assert result.stdout.splitlines()[-1] == "3 cases: 1 ok, 2 bad (0 from the cache)"
    assert result.stderr.strip().splitlines()[-1] == f"error: {data}: 2 of 3 cases failed the check (listed above)"
    assert "Traceback" not in result.stderr


def test_label_map_and_classes_are_those_of_train(good_data: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _in_process(capsys, str(good_data), "--label-map", "1:1,2:1", "--classes", "bg,kidney")
    assert code == 0 and _row(out, "case")[5:] == ["bg", "kidney", "status"]
    code, out, _ = _in_process(capsys, str(good_data), "--classes", "bg,kidney")
    assert code == 2 and "outside [0, 2)" in out
    code, _, err = _in_process(capsys, str(good_data), "--label-map", "2-1")
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: --label-map: ")


def test_unlabelled_cases_fail_unless_allowed(good_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "partial"
    shutil.copytree(good_data, data)
    (data / "case_00001/segmentation.nii.gz").unlink()
    code, out, _ = _in_process(capsys, str(data))
    assert code == 2 and f"case_00001: {data / 'case_00001'}: no segmentation.nii(.gz)" in out
    code, out, _ = _in_process(capsys, str(data), "--allow-unlabelled")
    assert code == 0 and _row(out, "case_00001")[3:] == ["RAS", "-", "-", "-", "ok"]


def test_thin_slices_are_a_warning_not_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "thin" / "case_a"
    folder.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros((64, 1, 4), np.float32), np.eye(4)), folder / "imaging.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((64, 1, 4), np.uint8), np.eye(4)), folder / "segmentation.nii.gz")
    code, out, _ = _in_process(capsys, str(tmp_path / "thin"), "--classes", "bg,fg")
    assert code == 0 and _row(out, "case_a")[-1] == "warning"
    assert f"case_a: {folder / 'imaging.nii.gz'}: axial slices are 64x1 voxels" in out


def test_msd_classes_come_from_dataset_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import json

    from hqctf_qiskit.data import make_phantom_case

    folder = tmp_path / "Task01_Tiny"
    for sub in ("imagesTr", "labelsTr"):
        (folder / sub).mkdir(parents=True)
    training = []
    for i in range(2):
        image, label, affine = make_phantom_case(i, seed=3, shape=(20, 16, 6))
        nib.save(nib.Nifti1Image(image, affine), folder / "imagesTr" / f"s_{i}.nii.gz")
        nib.save(nib.Nifti1Image(label, affine), folder / "labelsTr" / f"s_{i}.nii.gz")
        training.append({"image": f"./imagesTr/s_{i}.nii.gz", "label": f"./labelsTr/s_{i}.nii.gz"})
    (folder / "dataset.json").write_text(json.dumps(
        {"modality": {"0": "CT"}, "labels": {"0": "background", "1": "organ", "2": "lesion"}, "training": training}))
    code, out, _ = _in_process(capsys, str(folder))
    assert code == 0 and _row(out, "case")[5:] == ["background", "organ", "lesion", "status"]
    assert _row(out, "s_1")[-1] == "ok"
    code, _, err = _in_process(capsys, str(folder), "--classes", "background,kidney,tumor")
    assert code == 2 and err.strip().splitlines()[-1].startswith(
        "error: --classes: background,kidney,tumor are not the classes of")


STS_DIR = SHARED_DATA / "sts-ct-rtstruct"


def _link_tree(source: Path, target: Path) -> None:
    """Mirror ``source`` into ``target`` as file links (the data is not copied)."""
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, target / path.relative_to(source))


@pytest.mark.skipif(not STS_DIR.is_dir(), reason=f"shared STS data absent ({STS_DIR})")
def test_dicom_patients_are_checked_once_then_come_from_the_cache(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from hqctf_qiskit.data.dicom import series

    data = tmp_path / "sts"
    _link_tree(STS_DIR / "STS_001", data / "patient_a")  # a neutral folder name: kept as the case id
    _link_tree(STS_DIR / "STS_004", data / "STS_004")  # the PatientID as folder name: a hashed case id
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path / "cache"))
    slices_read: list[Path] = []
    real = series._read_slice_hu
    monkeypatch.setattr(series, "_read_slice_hu", lambda path, *a: slices_read.append(path) or real(path, *a))
    options = ["--structures", "GTV*:tumor", "--classes", "background,tumor"]
    code, out, _ = _in_process(capsys, str(data), *options)
    assert code == 0, out
    assert _row(out, "patient_a")[1:4] == ["198x202x59", "0.98x0.98x3.27", "LPS"]
    [hashed] = [line.split()[0] for line in out.splitlines() if line.startswith("case-")]
    assert "STS_004" not in out.replace(str(data), "")
    assert len(slices_read) == 59 + 85
    code, out, _ = _in_process(capsys, str(data), *options)
    assert code == 0 and out.splitlines()[-1] == "2 cases: 2 ok, 0 bad (2 from the cache)"
    assert len(slices_read) == 59 + 85, "the second check reads no DICOM series"
    assert _row(out, hashed)[-1] == "ok"
    code, _, err = _in_process(capsys, str(data), "--classes", "background,tumor")
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: --structures: needed to read the RTSTRUCT")


def test_a_truncated_dicom_slice_fails_its_patient_only(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from data.dicom_synth import write_patients

    data = write_patients(tmp_path / "data", ["p1", "p2"])
    cut = data / "p2" / "series1" / "IM3"
    cut.write_bytes(cut.read_bytes()[:-10])
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = _in_process(capsys, str(data), "--structures", "GTV*:tumor", "--classes", "background,tumor")
    assert code == 2
    assert _row(out, "p1")[-1] == "ok" and _row(out, "p2")[-1] == "FAIL"
    assert f"p2: {cut}: truncated DICOM file" in out
    assert err.strip().splitlines()[-1] == f"error: {data}: 1 of 2 cases failed the check (listed above)"
