"""Tiny synthetic DICOM (a few 4×4 CT slices, an RTSTRUCT) written with pydicom, for the DICOM reader tests.

Importable from the tests in this folder (pytest puts a test file's folder on sys.path). The patient module holds
``SYNTH_PATIENT`` so privacy tests can look for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, RTStructureSetStorage, generate_uid

SYNTH_PATIENT = "SYNTH^SECRET^0042"


def _file_dataset(sop_class: str, modality: str) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, meta.MediaStorageSOPInstanceUID, modality
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = SYNTH_PATIENT, SYNTH_PATIENT, "19000101"
    return ds


def slice_values(k: int, rows: int = 4, columns: int = 4) -> np.ndarray:
    """Stored pixel values of slice ``k`` as ``[row, column]``: distinct per slice and per pixel."""
    return (100 * k + np.arange(rows * columns).reshape(rows, columns)).astype(np.int16)


def write_ct_series(folder: Path, *, n: int = 4, rows: int = 4, columns: int = 4, pixel_spacing=(0.5, 0.75),
                    step: float = 2.0, origin=(-10.0, 5.0, 30.0), orientation=(1, 0, 0, 0, 1, 0),
                    positions: Sequence[Sequence[float]] | None = None, modality: str = "CT",
                    frame_uid: str | None = None, series_uid: str | None = None, study_uid: str | None = None,
                    slope: float = 2.0, intercept: float = -1024.0, names: Sequence[str] | None = None,
                    patient_position: str = "HFS") -> list[Path]:
    """Write ``n`` slices stepping ``step`` mm along the slice normal (or at ``positions``); return the paths.

    Slice ``k`` holds ``slice_values(k)``, so its HU are ``slice_values(k) * slope + intercept``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    iop = np.asarray(orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    frame_uid, series_uid = frame_uid or generate_uid(), series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    paths = []
    for k in range(n):
        ds = _file_dataset(sop_class, modality)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.SeriesNumber, ds.InstanceNumber, ds.PatientPosition = 2, k + 1, patient_position
        position = positions[k] if positions is not None else np.asarray(origin) + k * step * normal
        ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
        ds.PixelSpacing = [f"{v}" for v in pixel_spacing]
        ds.SliceThickness = f"{step}"
        ds.Rows, ds.Columns = rows, columns
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope}", f"{intercept}"
        ds.PixelData = slice_values(k, rows, columns).tobytes()
        path = folder / (names[k] if names is not None else f"slice_{k:03d}.dcm")
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_rtstruct(path: Path, *, frame_uid: str, series_uid: str, study_uid: str,
                   rois: dict[str, list[np.ndarray]], referenced_sop_uids: Sequence[str] = ()) -> Path:
    """An RTSTRUCT with one ROI per entry of ``rois`` (name → closed contours, each ``(n, 3)`` LPS points).

    The contours reference ``referenced_sop_uids`` (default: made-up UIDs), so only geometry can place them.
    """
    ds = _file_dataset(RTStructureSetStorage, "RTSTRUCT")
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, generate_uid(), frame_uid
    ds.StructureSetLabel = "synthetic"
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_uid
    study = Dataset()
    study.ReferencedSOPClassUID, study.ReferencedSOPInstanceUID = "1.2.840.10008.3.1.2.3.1", study_uid
    series = Dataset()
    series.SeriesInstanceUID = series_uid
    series.ContourImageSequence = DicomSequence()
    study.RTReferencedSeriesSequence = DicomSequence([series])
    frame.RTReferencedStudySequence = DicomSequence([study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame])
    ds.StructureSetROISequence, ds.ROIContourSequence = DicomSequence(), DicomSequence()
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID, roi.ROIName = number, frame_uid, name
        roi.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber, item.ROIDisplayColor = number, [255, 0, 0]
        item.ContourSequence = DicomSequence()
        for index, points in enumerate(contours):
            contour = Dataset()
            image = Dataset()
            image.ReferencedSOPClassUID = CTImageStorage
            image.ReferencedSOPInstanceUID = referenced_sop_uids[index] if referenced_sop_uids else generate_uid()
            contour.ContourImageSequence = DicomSequence([image])
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(points)
            contour.ContourData = [f"{v:.4f}" for v in np.asarray(points, dtype=float).ravel()]
            item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def square(z: float, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """A closed axial square contour at height ``z`` (LPS mm)."""
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=float)


def write_patient(folder: Path, rois: dict[str, list[np.ndarray]] | None = None,
                  study_uid: str = "1.2.826.0.1.3680043.9.7.1", series_uid: str = "1.2.826.0.1.3680043.9.7.2",
                  frame_uid: str | None = None) -> Path:
    """A patient folder as a PACS export: ``series1/IM0..IM3`` (CT 8x8x4, 1 mm pixels, 2 mm slices from the
    origin) and ``rt/RS_export.dcm`` (default: ``GTV_primary``, a 2x2-voxel square on slice 1)."""
    uids = dict(frame_uid=frame_uid or f"{series_uid}.9", series_uid=series_uid, study_uid=study_uid)
    write_ct_series(folder / "series1", n=4, rows=8, columns=8, pixel_spacing=(1.0, 1.0), step=2.0,
                    origin=(0.0, 0.0, 0.0), names=[f"IM{k}" for k in range(4)], **uids)
    rois = {"GTV_primary": [square(2.0, 1.5, 1.5, 3.5, 3.5)]} if rois is None else rois
    write_rtstruct(folder / "rt" / "RS_export.dcm", rois=rois, **uids)
    return folder


def write_patients(root: Path, names: Sequence[str]) -> Path:
    """One :func:`write_patient` folder per name, each with its own study/series/frame UIDs."""
    for i, name in enumerate(names):
        write_patient(root / name, study_uid=f"1.2.826.0.1.3680043.9.7.{i}.1",
                      series_uid=f"1.2.826.0.1.3680043.9.7.{i}.2")
    return root
