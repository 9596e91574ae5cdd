"""write_seg: a label volume → DICOM-SEG → highdicom's reader gives every class's mask back voxel for voxel."""

from __future__ import annotations

import logging
import warnings

import highdicom as hd
import numpy as np
import pytest

from hqctf_qiskit.errors import DataError
from hqctf_qiskit.inference.dicom.geometry import sort_slices
from hqctf_qiskit.inference.dicom.seg_writer import write_seg

from inference_dicom_helpers import (CLASSES, SECRET_BIRTH, SECRET_ID, SECRET_NAME, STS_FFS, STS_HFS,
                                     dciodvfy_errors, labels_for, read_strictly, requires_sts, sts_headers,
                                     sts_reference_on_grid, synthetic_headers)


def masks_by_segment(path, datasets) -> dict[str, np.ndarray]:
    """Segment label → ``[row, column, slice]`` mask, frames looked up by the CT slices' SOP instance UIDs."""
    seg = hd.seg.segread(path)
    numbers = seg.get_segment_numbers()
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=[d.SOPInstanceUID for d in datasets],
                                               segment_numbers=numbers, combine_segments=False)
    return {seg.get_segment_description(n).SegmentLabel: pixels[..., i].transpose(1, 2, 0).astype(bool)
            for i, n in enumerate(numbers)}


def check_round_trip(path, datasets, labels) -> None:
    masks = masks_by_segment(path, datasets)
    assert list(masks) == (["tumor", "ring"] if (labels == 1).any() else ["ring"])
    for name, mask in masks.items():
        assert np.array_equal(mask, labels == CLASSES.index(name)), name


def test_synthetic_oblique_series_round_trips_exactly(tmp_path):
    datasets = synthetic_headers()
    labels = labels_for(datasets)
    labels[3:9, 2:7, 2:4] = 1
    check_round_trip(write_seg(labels, datasets, CLASSES, tmp_path / "seg.dcm"), datasets, labels)


@requires_sts
@pytest.mark.parametrize("patient", [STS_HFS, STS_FFS])
def test_real_series_round_trip_is_exact_and_valid(tmp_path, patient):
    datasets = sort_slices(sts_headers(patient))
    labels = labels_for(datasets, sts_reference_on_grid(patient, datasets))
    path = write_seg(labels, datasets, CLASSES, tmp_path / "seg.dcm")
    check_round_trip(path, datasets, labels)
    seg = read_strictly(path)
    ct = datasets[0]
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                    "FrameOfReferenceUID", "AccessionNumber"):
        assert seg[keyword].value == ct[keyword].value, keyword
    assert seg.StudyID == ""  # the CT's is too long for SH (as in the RTSTRUCT)
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY" and seg.Manufacturer == "hqctf-qiskit"
    assert seg.SeriesInstanceUID != ct.SeriesInstanceUID
    for segment in seg.SegmentSequence:
        assert segment.SegmentAlgorithmType == "AUTOMATIC" and segment.SegmentAlgorithmName == "hqctf-qiskit"
    (series,) = seg.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == ct.SeriesInstanceUID


@requires_sts
def test_dciodvfy_finds_no_errors(tmp_path):
    datasets = sort_slices(sts_headers(STS_FFS))
    labels = labels_for(datasets, sts_reference_on_grid(STS_FFS, datasets))
    errors, output = dciodvfy_errors(write_seg(labels, datasets, CLASSES, tmp_path / "seg.dcm"))
    assert not errors, errors  # the full output quotes the patient name: not into the test log


def test_patient_values_reach_the_file_exactly_and_nothing_else(tmp_path, caplog):
    datasets = synthetic_headers()
    for ds in datasets:  # a one-component name: highdicom warns quoting it unless the writer keeps that quiet
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = SECRET_NAME, SECRET_ID, SECRET_BIRTH
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = write_seg(labels_for(datasets), datasets, CLASSES, tmp_path / "out" / "seg.dcm")
    said = caplog.text + "\n".join(str(w.message) for w in caught)
    for secret in (SECRET_NAME, SECRET_ID, SECRET_BIRTH):
        assert secret not in said
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["seg.dcm"]
    written = read_strictly(path)
    assert (str(written.PatientName), written.PatientID, written.PatientBirthDate) == \
        (SECRET_NAME, SECRET_ID, SECRET_BIRTH)


def test_nothing_to_write_is_a_one_line_error(tmp_path):
    datasets = synthetic_headers()
    with pytest.raises(DataError, match="no foreground voxels"):
        write_seg(np.zeros((20, 24, 6), np.uint8), datasets, CLASSES, tmp_path / "seg.dcm")
    assert not list(tmp_path.iterdir())
