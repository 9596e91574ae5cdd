"""Training straight from DICOM CT + RTSTRUCT (the shared STS patients), and nothing of the patient module in the run;
what a layout asks of the run's options (``--structures`` for RTSTRUCTs, a dataset.json's classes).

The patients are linked under neutral folder names, so any PatientID or PatientName found in the run folder can
only have come from the DICOM headers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import pydicom
import pytest

from hqctf_qiskit.config import TrainConfig
from hqctf_qiskit.data import DataError, make_phantom_case
from hqctf_qiskit.training.datasetup import discover, with_dataset_classes

from helpers import SHARED_DATA, hqctf, hqctf_here

STS_DIR = SHARED_DATA / "sts-ct-rtstruct"
PATIENTS = ["STS_001", "STS_004", "STS_006", "STS_011"]  # HFS and FFS
OPTIONS = ["--structures", "GTV*:tumor", "--classes", "background,tumor"]


def _link_tree(source: Path, target: Path) -> None:
    """Mirror ``source`` into ``target`` as file links (the data is not copied)."""
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, target / path.relative_to(source))


def _identities() -> set[str]:
    """Every patient's PatientID and PatientName (and its name parts), as the CT headers hold them."""
    found = set()
    for patient in PATIENTS:
        ds = pydicom.dcmread(next((STS_DIR / patient / "CT" / "image").glob("*.dcm")), stop_before_pixels=True)
        name = str(ds.get("PatientName", ""))
        found |= {str(ds.get("PatientID", "")), name, *name.split("^")}
    return {text for text in found if len(text) >= 3}


@pytest.mark.slow
@pytest.mark.skipif(not STS_DIR.is_dir(), reason=f"shared STS data absent ({STS_DIR})")
def test_train_on_dicom_rtstruct_leaves_no_patient_identity_in_the_run(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "sts"
    for i, patient in enumerate(PATIENTS):
        _link_tree(STS_DIR / patient, data / f"subject_{i}")
    run = tmp_path / "run"
    env = {**os.environ, "HQCTF_CACHE_DIR": str(tmp_path / "cache")}
    result = hqctf("train", "--data", str(data), *OPTIONS, "--patch-size", "64", "--epochs", "1",
                   "--samples-per-epoch", "8", "--batch-size", "4", "--device", "cpu", "--reps", "1",
                   "--out", str(run), env=env)
    assert "final validation Dice" in result.stdout
    splits = json.loads((run / "splits.json").read_text())
    assert sorted(sum(splits.values(), [])) == [f"subject_{i}" for i in range(len(PATIENTS))]

    secrets = _identities()
    assert secrets, "the STS headers hold a PatientID"
    files = [path for path in run.rglob("*") if path.is_file()]
    assert any(path.name == "config.yaml" for path in files) and len(files) > 3
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, f"{secret!r} found in {path.relative_to(run)}"
    for secret in secrets:
        assert secret not in result.stdout.replace(str(tmp_path), "") and secret not in result.stderr

    monkeypatch.setenv("HQCTF_CACHE_DIR", env["HQCTF_CACHE_DIR"])  # train's check and check-data share the cache
    checked = hqctf_here("check-data", str(data), *OPTIONS)
    assert checked.stdout.splitlines()[-1] == f"{len(PATIENTS)} cases: {len(PATIENTS)} ok, 0 bad " \
                                              f"({len(PATIENTS)} from the cache)"


def _msd(root: Path) -> Path:
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
    training = []
    for i in range(3):
        image, label, affine = make_phantom_case(i, seed=1, shape=(32, 32, 6))
        nib.save(nib.Nifti1Image(image, affine), root / "imagesTr" / f"c{i}.nii.gz")
        nib.save(nib.Nifti1Image(label, affine), root / "labelsTr" / f"c{i}.nii.gz")
        training.append({"image": f"imagesTr/c{i}.nii.gz", "label": f"labelsTr/c{i}.nii.gz"})
    (root / "dataset.json").write_text(json.dumps(
        {"modality": {"0": "CT"}, "labels": {"0": "background", "1": "organ", "2": "lesion"}, "training": training}))
    return root


def test_a_dataset_json_names_the_classes_unless_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path / "cache"))
    data = _msd(tmp_path / "Task01")
    config = with_dataset_classes(TrainConfig.from_flat({"data": str(data), "patch_size": 32}))
    assert config.data.classes == ["background", "organ", "lesion"]
    assert with_dataset_classes(config) == config, "a resolved config (as a run folder holds it) is kept"
    assert [case.case_id for case in discover(config)] == ["c0", "c1", "c2"]
    given = TrainConfig.from_flat({"data": str(data), "classes": "background,kidney,tumor", "patch_size": 32})
    assert with_dataset_classes(given) == given
    with pytest.raises(DataError, match=r"^--classes: background,kidney,tumor are not the classes of"):
        discover(given)
    mapped = TrainConfig.from_flat({"data": str(data), "classes": "background,lesion", "label_map": "2:1",
                                    "patch_size": 32})
    assert len(discover(mapped)) == 3
    with pytest.raises(DataError, match=r"^--label-map: give --classes too"):
        with_dataset_classes(TrainConfig.from_flat({"data": str(data), "label_map": "2:1"}))


def test_rtstruct_cases_need_structures_before_anything_is_read(tmp_path: Path) -> None:
    from data.dicom_synth import write_patients

    data = write_patients(tmp_path / "data", ["p1", "p2", "p3"])
    config = TrainConfig.from_flat({"data": str(data), "classes": "background,tumor"})
    with pytest.raises(DataError, match=r"^--structures: needed to read the RTSTRUCT .*p1/rt/RS_export\.dcm"):
        discover(config)
