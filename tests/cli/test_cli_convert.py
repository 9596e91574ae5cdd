"""``hqctf convert``: any readable case to KiTS layout, through the real command line.

The shared STS patients (HFS and FFS) convert to masks that match their reference masks (Dice ≥ 0.98 in RAS by
affine); nnU-Net, MSD and NRRD cases convert to what the data layer loads; bad input is one line, exit 2.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from data.dicom_synth import square, write_patient, write_patients

from hqctf_qiskit.data import load_case, make_phantom_case

from helpers import SHARED_DATA, run_cli

STS_DIR = SHARED_DATA / "sts-ct-rtstruct"
STS_PATIENTS = [f"STS_{i:03d}" for i in range(1, 13)]
FEET_FIRST = {"STS_004", "STS_006", "STS_009", "STS_010"}
requires_sts = pytest.mark.skipif(not STS_DIR.is_dir(), reason=f"shared STS data absent ({STS_DIR})")
GTV = ["--structures", "GTV*:tumor", "--classes", "background,tumor"]


def _convert(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "convert", *args)


def _error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _dice_in_ras(ours: nib.Nifti1Image, reference: nib.Nifti1Image) -> float:
    """Dice after putting both masks on RAS canonical axes from their affines; the grids must then coincide."""
    ours, reference = nib.as_closest_canonical(ours), nib.as_closest_canonical(reference)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours.affine, reference.affine, atol=1e-2)
    a, b = np.asarray(ours.dataobj) > 0, np.asarray(reference.dataobj) > 0
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


@requires_sts
@pytest.mark.parametrize("patient", STS_PATIENTS)
def test_sts_patient_converts_to_its_reference_mask(patient: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    position = pydicom.dcmread(next((STS_DIR / patient / "CT" / "image").glob("*.dcm")),
                               stop_before_pixels=True).PatientPosition
    assert position == ("FFS" if patient in FEET_FIRST else "HFS")
    code, out, err = _convert(capsys, STS_DIR / patient, tmp_path / "out", *GTV)
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith("case-"), "the folder is the PatientID: the case id is a hash"
    assert patient not in out
    image, label = nib.load(tmp_path / "out" / "imaging.nii.gz"), nib.load(tmp_path / "out" / "segmentation.nii.gz")
    assert image.get_data_dtype() == np.int16 and label.get_data_dtype() == np.uint8
    dice = _dice_in_ras(label, nib.load(STS_DIR / patient / "reference_mask.nii.gz"))
    print(f"{patient} ({position}): Dice {dice:.4f}")
    assert dice >= 0.98, f"{patient} ({position}): Dice {dice:.4f}"
    # HU and geometry against an independent reader: SimpleITK's series reader, written to NIfTI by ITK itself
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(STS_DIR / patient / "CT" / "image")))
    sitk.WriteImage(reader.Execute(), str(tmp_path / "itk.nii.gz"))
    itk = nib.as_closest_canonical(nib.load(tmp_path / "itk.nii.gz"))
    ours = nib.as_closest_canonical(image)
    np.testing.assert_allclose(ours.affine, itk.affine, atol=1e-2)
    np.testing.assert_array_equal(np.asarray(ours.dataobj), np.asarray(itk.dataobj))


def test_output_folder_must_be_new_or_empty(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    patient = write_patient(tmp_path / "p1")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = _convert(capsys, patient, out, *GTV)
    assert code == 2 and _error_line(err) == f"error: {out}: output folder is not empty; give a new or empty folder"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    code, out_text, err = _convert(capsys, patient, tmp_path / "new", *GTV)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["imaging.nii.gz", "segmentation.nii.gz"]
    assert "p1: " in out_text and "(voxels: background 252, tumor 4)" in out_text


@pytest.mark.parametrize("problem", ["no DICOM", "no asked structure", "truncated slice", "other frame",
                                     "no --structures"])
def test_bad_dicom_input_is_one_line_naming_the_file(problem: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    patient = write_patient(tmp_path / "p1", rois={"GTV_1": [square(2.0, 1.5, 1.5, 3.5, 3.5)]})
    rtstruct, options = patient / "rt" / "RS_export.dcm", GTV
    if problem == "no DICOM":
        patient = tmp_path / "empty"
        patient.mkdir()
        (patient / "readme.txt").write_text("no images here")
        expected = f"error: {patient}: no DICOM files found (1 other files)"
    elif problem == "no asked structure":
        options = ["--structures", "Kidney*:tumor", "--classes", "background,tumor"]
        expected = (f"error: {rtstruct}: none of the structures asked for (Kidney*:tumor) is in this RTSTRUCT; "
                    "it has: GTV_1")
    elif problem == "truncated slice":
        cut = patient / "series1" / "IM2"
        cut.write_bytes(cut.read_bytes()[:-40])
        expected = f"error: {cut}: truncated DICOM file"
    elif problem == "other frame":
        from data.dicom_synth import write_rtstruct

        write_rtstruct(rtstruct, frame_uid="1.2.99", series_uid="1.2.826.0.1.3680043.9.7.2",
                       study_uid="1.2.826.0.1.3680043.9.7.1", rois={"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)]})
        expected = f"error: {rtstruct}: frame of reference 1.2.99 is not the CT series'"
    else:
        options = []
        expected = f"error: --structures: needed to read the RTSTRUCT {rtstruct}"
    code, _, err = _convert(capsys, patient, tmp_path / "out", *options)
    assert code == 2
    assert _error_line(err).startswith(expected)
    assert not (tmp_path / "out" / "segmentation.nii.gz").exists()


def test_a_dicom_folder_of_patients_needs_case_or_all(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_patients(tmp_path / "data", ["p1", "p2"])
    code, _, err = _convert(capsys, root, tmp_path / "out", *GTV)
    assert code == 2 and "2 RTSTRUCT files below it; if it is a folder of patient folders use --case ID or --all" in err
    code, _, err = _convert(capsys, root, tmp_path / "one", "--case", "p2", *GTV)
    assert code == 0, err
    assert (tmp_path / "one" / "segmentation.nii.gz").is_file()
    code, _, err = _convert(capsys, root, tmp_path / "none", "--case", "p9", *GTV)
    assert code == 2 and _error_line(err) == f"error: --case: no case 'p9' in {root} (cases: p1, p2)"
    code, _, err = _convert(capsys, root, tmp_path / "all", "--all", *GTV)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["p1", "p2"]
    converted = load_case(tmp_path / "all" / "p2" / "imaging.nii.gz", tmp_path / "all" / "p2" / "segmentation.nii.gz",
                          num_classes=2)
    original = load_case(root / "p2", root / "p2" / "rt" / "RS_export.dcm", structures="GTV*:tumor",
                         classes=["background", "tumor"])
    np.testing.assert_array_equal(converted.image, original.image)
    np.testing.assert_array_equal(converted.label, original.label)
    np.testing.assert_allclose(converted.affine, original.affine)


def _nnunet(root: Path) -> Path:
    folder = root / "Dataset007_Tiny"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    for i in range(2):
        image, label, affine = make_phantom_case(i, seed=1, shape=(20, 16, 6))
        nib.save(nib.Nifti1Image(image.astype(np.float32) + 0.5, affine), folder / "imagesTr" / f"t_{i}_0000.nii.gz")
        nib.save(nib.Nifti1Image(label, affine), folder / "labelsTr" / f"t_{i}.nii.gz")
    (folder / "dataset.json").write_text(json.dumps(
        {"channel_names": {"0": "CT"}, "labels": {"background": 0, "organ": 1, "lesion": 2}, "file_ending": ".nii.gz"}))
    return folder


def test_an_nnunet_case_takes_its_classes_from_dataset_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _nnunet(tmp_path)
    code, out, err = _convert(capsys, folder, tmp_path / "out", "--case", "t_1")
    assert code == 0, err
    assert "organ" in out and "lesion" in out
    image = nib.load(tmp_path / "out" / "imaging.nii.gz")
    assert image.get_data_dtype() == np.float32, "fractional HU stay float32"
    source = load_case(folder / "imagesTr" / "t_1_0000.nii.gz", folder / "labelsTr" / "t_1.nii.gz", num_classes=3)
    np.testing.assert_array_equal(np.asarray(image.dataobj), source.image)
    code, _, err = _convert(capsys, folder, tmp_path / "other", "--case", "t_1", "--classes", "bg,kidney,tumor")
    assert code == 2 and _error_line(err).startswith("error: --classes: bg,kidney,tumor are not the classes of")


def test_an_nrrd_pair_converts_to_nifti(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    image, label, _ = make_phantom_case(0, seed=2, shape=(20, 16, 6))
    for array, name in ((image, "ct.nrrd"), (label, "seg.nrrd")):
        itk = sitk.GetImageFromArray(np.transpose(array))
        itk.SetSpacing((0.8, 0.8, 2.0))
        itk.SetDirection((-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
        sitk.WriteImage(itk, str(tmp_path / name))
    code, _, err = _convert(capsys, tmp_path / "ct.nrrd", tmp_path / "out", "--label", tmp_path / "seg.nrrd")
    assert code == 0, err
    ours = load_case(tmp_path / "out" / "imaging.nii.gz", tmp_path / "out" / "segmentation.nii.gz")
    np.testing.assert_array_equal(ours.image, image)  # the phantom is RAS already; the NRRD said LPS with flips
    np.testing.assert_array_equal(ours.label, label)
    np.testing.assert_allclose(np.diag(ours.affine)[:3], [0.8, 0.8, 2.0])


def test_converted_files_are_written_through_the_atomic_writer(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from hqctf_qiskit.data import convert as convert_module

    written: list[str] = []
    real = convert_module.atomic_create
    monkeypatch.setattr(convert_module, "atomic_create", lambda path, make: written.append(Path(path).name)
                        or real(path, make))
    code, _, err = _convert(capsys, write_patient(tmp_path / "p1"), tmp_path / "out", *GTV)
    assert code == 0, err
    assert written == ["imaging.nii.gz", "segmentation.nii.gz"]
    assert not [name for name in os.listdir(tmp_path / "out") if name not in written]
