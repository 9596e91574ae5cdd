"""A patient folder (CT series + RTSTRUCT) → volume + labels: the shared STS patients against their reference masks,
the choice of the CT series the RTSTRUCT refers to, explicit pairs, bad folders, and privacy.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from dicom_synth import SYNTH_PATIENT, square, write_ct_series, write_rtstruct
from helpers import SHARED_DATA

from hqctf_qiskit.data.dicom import read_dicom_case, structure_map
from hqctf_qiskit.errors import DataError

STS_DIR = SHARED_DATA / "sts-ct-rtstruct"
STS_PATIENTS = [f"STS_{i:03d}" for i in range(1, 13)]
FEET_FIRST = {"STS_004", "STS_006", "STS_009", "STS_010"}
requires_sts = pytest.mark.skipif(not STS_DIR.is_dir(), reason=f"shared STS data absent ({STS_DIR})")
CLASSES = ["background", "tumor"]


def _dice_in_common_orientation(ours: nib.Nifti1Image, reference: nib.Nifti1Image) -> float:
    """Dice after putting both masks on RAS canonical axes, from their affines; the grids must then coincide."""
    ours, reference = nib.as_closest_canonical(ours), nib.as_closest_canonical(reference)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours.affine, reference.affine, atol=1e-2)  # same voxel centres in the world, mm
    a, b = np.asarray(ours.dataobj) > 0, np.asarray(reference.dataobj) > 0
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


@requires_sts
@pytest.mark.parametrize("patient", STS_PATIENTS)
def test_sts_labels_match_the_reference_mask(patient: str) -> None:
    case = read_dicom_case(STS_DIR / patient, "GTV*:tumor", CLASSES)
    assert case.case_id == patient
    assert case.report.structures == {"GTV_Mass_CT": 1} and case.report.absent_classes == []
    reference = nib.load(STS_DIR / patient / "reference_mask.nii.gz")
    dice = _dice_in_common_orientation(case.ct.to_nifti(case.labels), reference)
    assert dice >= 0.98, f"{patient}: Dice {dice:.4f}"


@requires_sts
def test_sts_covers_head_first_and_feet_first() -> None:
    positions = {p: pydicom.dcmread(next((STS_DIR / p / "CT" / "image").glob("*.dcm")),
                                    stop_before_pixels=True).PatientPosition for p in STS_PATIENTS}
    assert {p for p, position in positions.items() if position == "FFS"} == FEET_FIRST
    assert {positions[p] for p in STS_PATIENTS if p not in FEET_FIRST} == {"HFS"}


def _link_tree(source: Path, target: Path) -> None:
    """Mirror ``source`` into ``target`` as file links (the data is not copied)."""
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, target / path.relative_to(source))


@requires_sts
def test_sts_privacy_no_patient_id_in_messages_or_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _link_tree(STS_DIR / "STS_004", tmp_path / "case_a")  # neutral folder names: only DICOM could leak the ID
    _link_tree(STS_DIR / "STS_001", tmp_path / "case_b")
    (tmp_path / "case_a" / "CT" / "mask" / "RS.dcm").unlink()
    headers = [pydicom.dcmread(STS_DIR / p / "CT" / "mask" / "RS.dcm") for p in ("STS_001", "STS_004")]
    secrets = {str(value) for ds in headers for value in (ds.PatientID, ds.PatientName) if str(value)}
    other_rtstruct = tmp_path / "case_b" / "CT" / "mask" / "RS.dcm"
    with caplog.at_level(logging.DEBUG):
        case = read_dicom_case(tmp_path / "case_b", "GTV*:tumor,Kidney:kidney", ["background", "tumor", "kidney"])
        with pytest.raises(DataError) as other_frame:  # case_a's CT with case_b's RTSTRUCT
            read_dicom_case(tmp_path / "case_a", "GTV*:tumor", CLASSES, rtstruct=other_rtstruct)
        with pytest.raises(DataError) as nothing_asked:
            read_dicom_case(tmp_path / "case_b", "Kidney:tumor", CLASSES)
    messages = [repr(case), repr(case.ct), repr(case.report), str(other_frame.value), str(nothing_asked.value)]
    messages += [record.getMessage() for record in caplog.records]
    assert any("frame of reference" in m for m in messages) and any("it has: GTV_Mass_CT" in m for m in messages)
    for secret in secrets:
        assert not [m for m in messages if secret in m]


def _patient(tmp_path: Path) -> tuple[Path, dict]:
    """A synthetic patient folder: the planning CT (+ RTSTRUCT), a second CT in the same frame, an MR, a scout."""
    folder = tmp_path / "patient_1"
    uids = dict(frame_uid="1.2.826.0.1.3680043.9.11", series_uid="1.2.826.0.1.3680043.9.12",
                study_uid="1.2.826.0.1.3680043.9.13")
    write_ct_series(folder / "CT" / "image", n=4, rows=8, columns=8, pixel_spacing=(1.0, 1.0), step=2.0,
                    origin=(0.0, 0.0, 0.0), **uids)
    write_ct_series(folder / "CT" / "resampled", n=2, rows=6, columns=6, step=3.0, origin=(0.0, 0.0, 0.0),
                    frame_uid=uids["frame_uid"], study_uid=uids["study_uid"])
    write_ct_series(folder / "MR", n=3, modality="MR")
    write_ct_series(folder / "scout", n=1, rows=4, columns=4)  # another CT series in another frame
    (folder / "notes.txt").write_text("not DICOM")
    write_rtstruct(folder / "CT" / "mask" / "anything.dcm", rois={"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)]}, **uids)
    return folder, uids


def test_case_folder_picks_the_referenced_ct_series(tmp_path: Path) -> None:
    folder, uids = _patient(tmp_path)
    case = read_dicom_case(folder, structure_map("gtv:tumor", CLASSES))
    assert case.case_id == "patient_1"
    assert case.ct.series_instance_uid == uids["series_uid"]
    assert case.labels.shape == case.ct.shape == (8, 8, 4) and int(case.labels.sum()) == 4


def test_case_falls_back_to_the_frame_of_reference(tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    write_ct_series(folder, n=3, rows=8, columns=8, pixel_spacing=(1.0, 1.0), origin=(0, 0, 0), frame_uid="1.2.3.1",
                    series_uid="1.2.3.2", study_uid="1.2.3.3")
    write_ct_series(folder / "other", n=3, frame_uid="1.2.3.9")  # other frame
    write_rtstruct(folder / "rs", frame_uid="1.2.3.1", series_uid="1.2.3.77", study_uid="1.2.3.3",  # unknown series
                   rois={"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)]})
    case = read_dicom_case(folder, "GTV:tumor", CLASSES)
    assert case.ct.series_instance_uid == "1.2.3.2" and int(case.labels.sum()) == 4


def test_explicit_image_folder_and_rtstruct_pair(tmp_path: Path) -> None:
    folder, uids = _patient(tmp_path)
    rtstruct = write_rtstruct(tmp_path / "elsewhere" / "RS2.dcm", rois={"GTV": [square(4.0, 0.5, 0.5, 2.5, 2.5)]},
                              **uids)
    case = read_dicom_case(folder / "CT" / "image", "GTV:tumor", CLASSES, rtstruct=rtstruct, case_id="p1")
    assert case.case_id == "p1" and case.report.rtstruct == rtstruct
    assert int(case.labels[:, :, 2].sum()) == 4


def test_refuses_folder_without_rtstruct(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "p" / "ct", n=3)
    with pytest.raises(DataError, match=r"p: no RTSTRUCT file found"):
        read_dicom_case(tmp_path / "p", "GTV:tumor", CLASSES)


def test_refuses_two_rtstructs(tmp_path: Path) -> None:
    folder, uids = _patient(tmp_path)
    write_rtstruct(folder / "RS_old.dcm", rois={"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)]}, **uids)
    with pytest.raises(DataError, match=r"patient_1: 2 RTSTRUCT files \(.*anything\.dcm.*RS_old\.dcm.*\)"):
        read_dicom_case(folder, "GTV:tumor", CLASSES)


def test_refuses_rtstruct_in_no_ct_frame(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "p" / "ct", n=3, frame_uid="1.2.3.1")
    write_rtstruct(tmp_path / "p" / "RS.dcm", frame_uid="1.2.3.5", series_uid="1.2.3.6", study_uid="1.2.3.7",
                   rois={"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)]})
    with pytest.raises(DataError, match=r"RS\.dcm: frame of reference 1\.2\.3\.5 is not that of any CT series"):
        read_dicom_case(tmp_path / "p", "GTV:tumor", CLASSES)


def test_refuses_folder_with_only_mr(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "p" / "mr", n=3, modality="MR", frame_uid="1.2.3.1")
    write_rtstruct(tmp_path / "p" / "RS.dcm", frame_uid="1.2.3.1", series_uid="1.2.3.6", study_uid="1.2.3.7",
                   rois={"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)]})
    with pytest.raises(DataError, match=r"p: no CT series for RS\.dcm \(found: .*MR"):
        read_dicom_case(tmp_path / "p", "GTV:tumor", CLASSES)


def test_synthetic_privacy(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder, _ = _patient(tmp_path)
    with caplog.at_level(logging.DEBUG):
        case = read_dicom_case(folder, "GTV:tumor,Liver:kidney", ["background", "tumor", "kidney"])
        with pytest.raises(DataError) as info:
            read_dicom_case(folder, "Liver:tumor", CLASSES)
    text = " ".join([repr(case), repr(case.report), str(info.value), *(r.getMessage() for r in caplog.records)])
    assert "Liver" in text and SYNTH_PATIENT.split("^")[1] not in text
