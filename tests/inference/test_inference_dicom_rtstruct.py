"""write_rtstruct: a label volume → RTSTRUCT → read back by independent readers → the same mask; valid; private.

Real series: one HFS and one FFS STS patient (skipped without ../shared). Readers: an even-odd rasteriser that places
contours by geometry (in the helpers, not the package) and rt-utils, which finds slices by SOP UID (our file
references the real UIDs). rt-utils sizes its mask (Columns, Rows, slices) but fills it as [row, column]
(qurit/rt-utils#88), so on a non-square series it is compared on the top-left square only, and the test masks lie
inside that square.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pydicom
import pytest

from hqctf_qiskit.errors import ConfigError, DataError
from hqctf_qiskit.inference.dicom.geometry import sort_slices
from hqctf_qiskit.inference.dicom.rtstruct_writer import write_rtstruct

from inference_dicom_helpers import (CLASSES, SECRET_BIRTH, SECRET_ID, SECRET_NAME, STS_DIR, STS_FFS, STS_HFS,
                                     dciodvfy_errors, dice, labels_for, rasterise_even_odd, read_strictly, requires_sts,
                                     sts_headers, sts_reference_on_grid, synthetic_headers)

PATIENT_MODULE = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")


def set_unchecked(ds: pydicom.Dataset, keyword: str, value: str) -> None:
    """An invalid value, as a file on disk may hold one (setting it normally would warn here, in the test)."""
    tag = pydicom.datadict.tag_for_keyword(keyword)
    ds.add(pydicom.DataElement(tag, pydicom.datadict.dictionary_VR(tag), value,
                               validation_mode=pydicom.config.IGNORE))


def test_synthetic_oblique_series_round_trips_exactly(tmp_path):
    datasets = synthetic_headers()
    labels = labels_for(datasets)
    labels[3:9, 2:7, 2:4] = 1
    path = write_rtstruct(labels, datasets, CLASSES, tmp_path / "rs.dcm")
    rtstruct = read_strictly(path)
    assert [r.ROIName for r in rtstruct.StructureSetROISequence] == ["tumor", "ring"]
    assert [r.ROINumber for r in rtstruct.StructureSetROISequence] == [1, 3]
    for label in (1, 3):
        assert np.array_equal(rasterise_even_odd(rtstruct, datasets, label), labels == label)


@requires_sts
@pytest.mark.parametrize("patient", [STS_HFS, STS_FFS])
def test_real_series_round_trip_by_geometry_and_by_rt_utils(tmp_path, patient):
    rt_utils = pytest.importorskip("rt_utils")
    datasets = sort_slices(sts_headers(patient))
    assert datasets[0].PatientPosition == ("HFS" if patient == STS_HFS else "FFS")
    labels = labels_for(datasets, sts_reference_on_grid(patient, datasets))
    side = min(labels.shape[:2])
    assert not labels[side:, side:].any(), "keep the test masks where rt-utils can draw them"
    path = write_rtstruct(labels, datasets, CLASSES, tmp_path / "rs.dcm")

    rtstruct = read_strictly(path)
    loaded = rt_utils.RTStructBuilder.create_from(dicom_series_path=str(STS_DIR / patient / "CT" / "image"),
                                                  rt_struct_path=str(path))
    for label, name in ((1, "tumor"), (3, "ring")):
        expected = labels == label
        assert dice(rasterise_even_odd(rtstruct, datasets, label), expected) == 1.0
        by_rt_utils = loaded.get_roi_mask_by_name(name)  # sorted by slice position like ours; [row, column] filled
        assert by_rt_utils.shape[2] == len(datasets)
        assert dice(by_rt_utils[:side, :side], expected[:side, :side]) >= 0.99
    assert "absent" not in loaded.get_roi_names()


@requires_sts
def test_written_file_references_the_ct_and_copies_its_patient_and_study(tmp_path):
    datasets = sort_slices(sts_headers(STS_FFS))
    labels = labels_for(datasets, sts_reference_on_grid(STS_FFS, datasets))
    rtstruct = read_strictly(write_rtstruct(labels, datasets, CLASSES, tmp_path / "rs.dcm"))
    ct = datasets[0]
    for keyword in (*PATIENT_MODULE, "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                    "ReferringPhysicianName", "FrameOfReferenceUID"):
        assert rtstruct[keyword].value == ct[keyword].value, keyword
    assert rtstruct.StudyID == ""  # the CT's 17-character Study ID breaks SH: written empty, not cut
    assert rtstruct.Modality == "RTSTRUCT" and rtstruct.Manufacturer == "hqctf-qiskit"
    assert rtstruct.SOPClassUID == pydicom.uid.RTStructureSetStorage
    assert rtstruct.file_meta.MediaStorageSOPInstanceUID == rtstruct.SOPInstanceUID
    assert rtstruct.SeriesInstanceUID != ct.SeriesInstanceUID
    assert rtstruct.SOPInstanceUID not in {d.SOPInstanceUID for d in datasets}
    (frame,) = rtstruct.ReferencedFrameOfReferenceSequence
    assert frame.FrameOfReferenceUID == ct.FrameOfReferenceUID
    (study,) = frame.RTReferencedStudySequence
    assert study.ReferencedSOPInstanceUID == ct.StudyInstanceUID
    (series,) = study.RTReferencedSeriesSequence
    assert series.SeriesInstanceUID == ct.SeriesInstanceUID
    assert [i.ReferencedSOPInstanceUID for i in series.ContourImageSequence] == [d.SOPInstanceUID for d in datasets]
    for roi, observation in zip(rtstruct.StructureSetROISequence, rtstruct.RTROIObservationsSequence):
        assert roi.ReferencedFrameOfReferenceUID == ct.FrameOfReferenceUID
        assert observation.ReferencedROINumber == roi.ROINumber and observation.RTROIInterpretedType == "ORGAN"
    colours = [tuple(r.ROIDisplayColor) for r in rtstruct.ROIContourSequence]
    assert len(set(colours)) == len(colours)


@requires_sts
def test_dciodvfy_finds_no_errors(tmp_path):
    datasets = sort_slices(sts_headers(STS_HFS))
    labels = labels_for(datasets, sts_reference_on_grid(STS_HFS, datasets))
    errors, output = dciodvfy_errors(write_rtstruct(labels, datasets, CLASSES, tmp_path / "rs.dcm"))
    assert not errors, errors  # the full output quotes the patient name: not into the test log


def test_patient_values_reach_the_file_exactly_and_nothing_else(tmp_path, caplog):
    datasets = synthetic_headers()
    for ds in datasets:
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = SECRET_NAME, SECRET_ID, SECRET_BIRTH
        set_unchecked(ds, "StudyID", "X" * 17)  # too long for SH: a warning must name the attribute, not the value
    labels = labels_for(datasets)
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = write_rtstruct(labels, datasets, CLASSES, tmp_path / "out" / "rs.dcm")
    said = caplog.text + "\n".join(str(w.message) for w in caught)
    assert "StudyID" in said
    for secret in (SECRET_NAME, SECRET_ID, SECRET_BIRTH, "X" * 17):
        assert secret not in said
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["rs.dcm"]  # no temporary file, no side file
    written = read_strictly(path)
    assert (str(written.PatientName), written.PatientID, written.PatientBirthDate) == \
        (SECRET_NAME, SECRET_ID, SECRET_BIRTH)


def test_an_invalid_patient_value_is_refused_without_quoting_it(tmp_path):
    datasets = synthetic_headers()
    for ds in datasets:
        set_unchecked(ds, "PatientID", SECRET_ID * 5)  # 75 characters: LO allows 64
    with pytest.raises(DataError, match="PatientID is not valid DICOM") as raised:
        write_rtstruct(labels_for(datasets), datasets, CLASSES, tmp_path / "rs.dcm")
    assert SECRET_ID not in str(raised.value)
    assert not (tmp_path / "rs.dcm").exists()


def test_colours_and_interpreted_types_can_be_given(tmp_path):
    datasets = synthetic_headers()
    path = write_rtstruct(labels_for(datasets), datasets, CLASSES, tmp_path / "rs.dcm",
                          colours={"ring": (1, 2, 3)}, interpreted_types={"ring": "GTV"})
    written = read_strictly(path)
    assert list(written.ROIContourSequence[0].ROIDisplayColor) == [1, 2, 3]
    assert written.RTROIObservationsSequence[0].RTROIInterpretedType == "GTV"
    with pytest.raises(ConfigError, match="interpreted_types"):
        write_rtstruct(labels_for(datasets), datasets, CLASSES, tmp_path / "x.dcm", interpreted_types={"ring": "X"})
    with pytest.raises(ConfigError, match="colours: ring"):
        write_rtstruct(labels_for(datasets), datasets, CLASSES, tmp_path / "x.dcm", colours={"ring": (1, 2)})


def test_bad_inputs_are_one_line_errors(tmp_path):
    datasets = synthetic_headers()
    labels = labels_for(datasets)
    with pytest.raises(DataError, match="value 4 is not a class index"):
        write_rtstruct(labels + (labels == 3), datasets, CLASSES, tmp_path / "x.dcm")
    with pytest.raises(DataError, match="no foreground voxels"):
        write_rtstruct(np.zeros_like(labels), datasets, CLASSES, tmp_path / "x.dcm")
    with pytest.raises(DataError, match="does not match the CT series"):
        write_rtstruct(labels[:, :, :-1], datasets, CLASSES, tmp_path / "x.dcm")
    with pytest.raises(DataError, match="not sorted"):
        write_rtstruct(labels, datasets[::-1], CLASSES, tmp_path / "x.dcm")
    with pytest.raises(DataError, match="integer labels"):
        write_rtstruct(labels.astype(float), datasets, CLASSES, tmp_path / "x.dcm")
    with pytest.raises(ConfigError, match="unique"):
        write_rtstruct(labels, datasets, ["background", "a", "a", "b"], tmp_path / "x.dcm")
    assert not list(tmp_path.iterdir())
