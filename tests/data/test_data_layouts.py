"""Dataset layouts beyond KiTS, through the one ``discover_cases``/``load_case`` path: nnU-Net raw, MSD, folders of
DICOM patient folders (with privacy-safe case ids), case lists naming DICOM folders and RTSTRUCTs.

Built tiny in tmp_path: phantom arrays for the NIfTI layouts, synthetic DICOM (``dicom_synth``) for the DICOM ones.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from dicom_synth import SYNTH_PATIENT, square, write_patient, write_patients, write_rtstruct

from hqctf_qiskit.data import DataError, describe_dataset, discover_cases, load_case, make_phantom_case
from hqctf_qiskit.data.layouts.dataset_json import check_classes, classes_from_labels

SHAPE = (24, 20, 6)
CLASSES = ["background", "tumor"]


def _phantom(index: int) -> tuple[nib.Nifti1Image, nib.Nifti1Image, np.ndarray, np.ndarray]:
    image, label, affine = make_phantom_case(index, seed=5, shape=SHAPE)
    return nib.Nifti1Image(image, affine), nib.Nifti1Image(label, affine), image, label


def _nnunet(root: Path, cases: int = 3, **json_changes) -> Path:
    folder = root / "Dataset042_Phantom"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    for i in range(cases):
        image, label, _, _ = _phantom(i)
        nib.save(image, folder / "imagesTr" / f"ph_{i:03d}_0000.nii.gz")
        nib.save(label, folder / "labelsTr" / f"ph_{i:03d}.nii.gz")
    content = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "kidney": 1, "tumor": 2},
               "numTraining": cases, "file_ending": ".nii.gz", **json_changes}
    (folder / "dataset.json").write_text(json.dumps(content))
    return folder


def _msd(root: Path, cases: int = 3, **json_changes) -> Path:
    folder = root / "Task09_Phantom"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    training = []
    for i in range(cases):
        image, label, _, _ = _phantom(i)
        nib.save(image, folder / "imagesTr" / f"organ_{i}.nii.gz")
        nib.save(label, folder / "labelsTr" / f"organ_{i}.nii.gz")
        training.append({"image": f"./imagesTr/organ_{i}.nii.gz", "label": f"./labelsTr/organ_{i}.nii.gz"})
    content = {"name": "Phantom", "modality": {"0": "CT"}, "labels": {"0": "background", "1": "organ", "2": "lesion"},
               "numTraining": cases, "training": training, "test": [], **json_changes}
    (folder / "dataset.json").write_text(json.dumps(content))
    return folder


def test_nnunet_dataset_names_cases_classes_and_values(tmp_path: Path) -> None:
    folder = _nnunet(tmp_path)
    (folder / "imagesTs").mkdir()  # test images are not training cases
    for source in (folder, folder / "dataset.json"):
        info = describe_dataset(source)
        assert info.layout == "nnunet" and info.labels == {"background": 0, "kidney": 1, "tumor": 2}
        assert [c.case_id for c in info.cases] == ["ph_000", "ph_001", "ph_002"]
    case = info.cases[1]
    volume = load_case(case.image, case.label, case_id=case.case_id, num_classes=3)
    _, _, image, label = _phantom(1)
    np.testing.assert_array_equal(volume.image, image)
    np.testing.assert_array_equal(volume.label, label)


def test_nnunet_with_another_file_ending_reads_through_simpleitk(tmp_path: Path) -> None:
    folder = tmp_path / "Dataset001_Nrrd"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    _, _, image, label = _phantom(0)
    for array, path in ((image, folder / "imagesTr" / "a_0000.nrrd"), (label, folder / "labelsTr" / "a.nrrd")):
        sitk.WriteImage(sitk.GetImageFromArray(np.transpose(array)), str(path))
    (folder / "dataset.json").write_text(json.dumps(
        {"channel_names": {"0": "CT"}, "labels": {"background": 0, "kidney": 1, "tumor": 2}, "file_ending": ".nrrd"}))
    [case] = discover_cases(folder)
    volume = load_case(case.image, case.label, num_classes=3)
    assert volume.label is not None and int(volume.label.sum()) == int(label.sum())


@pytest.mark.parametrize(("changes", "message"), [
    ({"channel_names": {"0": "CT", "1": "PET"}}, r"2 input channels \(0: CT, 1: PET\); hqctf reads single-channel"),
    ({"labels": {"background": 0, "tumor": [1, 2]}}, r"label 'tumor' is a region"),
    ({"labels": {"background": 0, "kidney": 1, "cyst": 1}}, r"two labels share a value"),
])
def test_nnunet_refusals_are_one_line_naming_dataset_json(tmp_path: Path, changes: dict, message: str) -> None:
    folder = _nnunet(tmp_path, cases=1, **changes)
    with pytest.raises(DataError, match=f"^{folder / 'dataset.json'}: {message}"):
        discover_cases(folder)


def test_msd_dataset_follows_its_training_list(tmp_path: Path) -> None:
    folder = _msd(tmp_path)
    info = describe_dataset(folder)
    assert info.layout == "msd" and info.labels == {"background": 0, "organ": 1, "lesion": 2}
    assert [c.case_id for c in info.cases] == ["organ_0", "organ_1", "organ_2"]
    assert info.cases[0].origin == f"{folder / 'dataset.json'}: training entry 0"
    volume = load_case(info.cases[2].image, info.cases[2].label, num_classes=3)
    np.testing.assert_array_equal(volume.label, _phantom(2)[3])


def test_msd_multimodal_and_4d_images_are_refused(tmp_path: Path) -> None:
    folder = _msd(tmp_path, cases=1, modality={"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"})
    with pytest.raises(DataError, match=r"dataset\.json: 4 input channels \(0: FLAIR, 1: T1w"):
        discover_cases(folder)
    (folder / "dataset.json").unlink()
    other = _msd(tmp_path / "other", cases=1)
    image = other / "imagesTr" / "organ_0.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((*SHAPE, 4), np.float32), np.eye(4)), image)  # a 4D file, one modality listed
    [case] = discover_cases(other)
    with pytest.raises(DataError, match=rf"^{image}: expected a 3D volume, got shape"):
        load_case(case.image, case.label, num_classes=3)


def test_a_missing_listed_file_names_the_entry(tmp_path: Path) -> None:
    folder = _msd(tmp_path, cases=2)
    (folder / "labelsTr" / "organ_1.nii.gz").unlink()
    with pytest.raises(DataError, match=r"dataset\.json: training entry 1: label file .*organ_1\.nii\.gz does not"):
        discover_cases(folder)


def test_classes_come_from_dataset_json_and_must_agree() -> None:
    labels, where = {"background": 0, "organ": 1, "lesion": 2}, Path("Task09/dataset.json")
    assert classes_from_labels(labels, where) == ["background", "organ", "lesion"]
    check_classes(labels, where, ["Background", "ORGAN", "lesion"], None)  # case-insensitive
    with pytest.raises(DataError, match=r"^--classes: background,kidney,tumor are not the classes of .*"
                                        r"\(background,organ,lesion\); use those, or map"):
        check_classes(labels, where, ["background", "kidney", "tumor"], None)
    check_classes(labels, where, ["background", "target"], {2: 1})  # a label map says how
    with pytest.raises(DataError, match=r"^--label-map: values \[7\] are not labels of"):
        check_classes(labels, where, ["background", "target"], {7: 1})
    with pytest.raises(DataError, match=r"label values \[0, 2\] are not 0\.\.1; give --classes and a --label-map"):
        classes_from_labels({"background": 0, "tumor": 2}, where)


# --- DICOM patient folders ---------------------------------------------------------------------------------------

def test_a_folder_of_patient_folders_is_one_case_each(tmp_path: Path) -> None:
    root = write_patients(tmp_path / "data", ["pat_b", "pat_a"])
    (root / "empty").mkdir()  # no DICOM: not a patient
    (root / "README.txt").write_text("notes")
    info = describe_dataset(root)
    assert info.layout == "dicom" and info.labels is None and info.has_rtstruct_labels
    assert [(c.case_id, c.image.name, c.label.name) for c in info.cases] == [
        ("pat_a", "pat_a", "RS_export.dcm"), ("pat_b", "pat_b", "RS_export.dcm")]
    case = info.cases[0]
    volume = load_case(case.image, case.label, case_id=case.case_id, structures="gtv*:tumor", classes=CLASSES)
    assert volume.case_id == "pat_a" and volume.image.shape == (8, 8, 4) and volume.absent_classes == ()
    assert volume.label is not None and int(volume.label.sum()) == 4 and volume.native_shape == (8, 8, 4)


def test_rtstruct_labels_need_structures(tmp_path: Path) -> None:
    [case] = discover_cases(write_patients(tmp_path / "data", ["p1"]))
    with pytest.raises(DataError, match=r"^--structures: needed to read the RTSTRUCT .*RS_export\.dcm"):
        load_case(case.image, case.label, classes=CLASSES)


def test_a_structure_missing_in_one_patient_is_a_warning_and_an_absent_class(tmp_path: Path,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    [case] = discover_cases(write_patients(tmp_path / "data", ["p1"]))
    with caplog.at_level(logging.WARNING):
        volume = load_case(case.image, case.label, structures="GTV*:tumor,Kidney*:kidney",
                           classes=["background", "kidney", "tumor"])
    assert volume.absent_classes == (1,)
    assert volume.label is not None and set(np.unique(volume.label)) == {0, 2}
    assert any("no structure matching 'Kidney*:kidney'" in w for w in volume.warnings)
    assert any("Kidney*" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_two_rtstructs_in_a_patient_folder_are_refused_at_discovery(tmp_path: Path) -> None:
    root = write_patients(tmp_path / "data", ["p1"])
    write_rtstruct(root / "p1" / "RS_old.dcm", frame_uid="1.2.3", series_uid="1.2.4", study_uid="1.2.5",
                   rois={"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)]})
    with pytest.raises(DataError, match=r"p1: 2 RTSTRUCT files \(RS_old\.dcm, rt/RS_export\.dcm\); keep one"):
        discover_cases(root)


def test_a_folder_named_after_the_patient_gets_a_stable_hashed_id(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    secret_id = SYNTH_PATIENT  # dicom_synth writes it as PatientID and PatientName
    names = [secret_id, f"export_{secret_id.split('^')[1].lower()}_ct", "neutral"]
    root = write_patients(tmp_path / "data", names)
    with caplog.at_level(logging.DEBUG):
        first = [c.case_id for c in discover_cases(root)]
        again = [c.case_id for c in discover_cases(root)]
    assert first == again and first[-1] == "neutral"
    assert all(case_id.startswith("case-") and len(case_id) == len("case-") + 8 for case_id in first[:2])
    assert first[0] != first[1]
    text = " ".join(record.getMessage() for record in caplog.records)
    assert "named case-<hash" in text
    for part in ("SYNTH", "SECRET", "0042"):
        assert part.lower() not in text.lower()


def test_a_case_list_names_dicom_folders_and_rtstructs(tmp_path: Path) -> None:
    patient = write_patient(tmp_path / "p7")
    listing = tmp_path / "cases.csv"
    listing.write_text(f"image,label,case_id\np7/series1,p7/rt/RS_export.dcm,\n{patient / 'series1'},,unlabelled\n")
    cases = discover_cases(listing)
    assert [(c.case_id, c.is_dicom, c.has_rtstruct_label) for c in cases] == [
        ("series1", True, True), ("unlabelled", True, False)]
    volume = load_case(cases[0].image, cases[0].label, structures="GTV*:tumor", classes=CLASSES)
    assert volume.label is not None and int(volume.label.sum()) == 4
    image_only = load_case(cases[1].image)
    np.testing.assert_array_equal(image_only.image, volume.image)


def test_an_rtstruct_label_needs_a_dicom_image(tmp_path: Path) -> None:
    patient = write_patient(tmp_path / "p1")
    image = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.int16), np.eye(4)), image)
    with pytest.raises(DataError, match=r"RS_export\.dcm: an RTSTRUCT label needs the DICOM CT series"):
        load_case(image, patient / "rt" / "RS_export.dcm", structures="GTV:tumor", classes=CLASSES)


def test_nothing_recognisable_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=rf"^{tmp_path}: no case folders with imaging\.nii\.gz .*no patient folders "
                                        r"with DICOM files, and no dataset\.json"):
        discover_cases(tmp_path)
