"""A label volume → a DICOM RT Structure Set that a planning system (or 3D Slicer) imports onto the CT it came from.

One ROI per foreground class present (ROI number = label value, ROI name = class name, a display colour), contours
per slice by geometry (CLOSED_PLANAR polygons in patient mm through the slice's ImagePositionPatient /
ImageOrientationPatient / PixelSpacing; holes as separate contours, even-odd — see :mod:`.contours`), each contour
referencing its own slice's SOP instance, and a ReferencedFrameOfReferenceSequence naming the CT's frame of
reference, study, series and every slice. Patient and study modules come from the CT only (:mod:`.ct_modules`);
the series and instance UIDs are new. RTROIInterpretedType defaults to ``ORGAN`` (a generic anatomical structure;
pass ``interpreted_types={"tumor": "GTV"}`` where a class is a target — we do not guess that from a name), and the
RT Approval module says ``UNAPPROVED``: a prediction is a proposal a clinician reviews.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, RTStructureSetStorage, generate_uid

from ...errors import ConfigError
from ...io import atomic_write
from .classes import check_labels, class_colours, present_classes
from .contours import mask_to_polygons
from .ct_modules import copy_frame_of_reference, copy_patient_and_study
from .geometry import check_series, pixel_to_patient
from .maker import MANUFACTURER, SERIES_DESCRIPTION, software_version

__all__ = ["write_rtstruct", "build_rtstruct", "INTERPRETED_TYPES"]

log = logging.getLogger(__name__)


INTERPRETED_TYPES = frozenset({
    "", "EXTERNAL", "PTV", "CTV", "GTV", "TREATED_VOLUME", "IRRAD_VOLUME", "OAR", "BOLUS", "AVOIDANCE", "ORGAN",
    "MARKER", "REGISTRATION", "ISOCENTER", "CONTRAST_AGENT", "CAVITY", "BRACHY_CHANNEL", "BRACHY_ACCESSORY",
    "BRACHY_SRC_APP", "BRACHY_CHNL_SHLD", "SUPPORT", "FIXATION", "DOSE_REGION", "CONTROL", "DOSE_MEASUREMENT",
})
"""RT ROI Interpreted Type defined terms (PS3.3 C.8.8.8.1); empty means "not specified"."""

_DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"
"""The SOP class every RTSTRUCT's RTReferencedStudySequence names (retired, still what PS3.3 and readers use)."""


def _ds_text(values: np.ndarray) -> list[str]:
    """Coordinates as DS strings, 0.1 µm resolution (≤ 16 characters for any position within ±10 km)."""
    return [f"{v:.4f}" for v in np.asarray(values, dtype=np.float64).ravel()]


def _image_reference(ct: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = ct.SOPClassUID
    item.ReferencedSOPInstanceUID = ct.SOPInstanceUID
    return item


def _referenced_frame_of_reference(cts: Sequence[Dataset]) -> Dataset:
    series = Dataset()
    series.SeriesInstanceUID = cts[0].SeriesInstanceUID
    series.ContourImageSequence = DicomSequence([_image_reference(ct) for ct in cts])
    study = Dataset()
    study.ReferencedSOPClassUID = _DETACHED_STUDY_MANAGEMENT
    study.ReferencedSOPInstanceUID = cts[0].StudyInstanceUID
    study.RTReferencedSeriesSequence = DicomSequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = cts[0].FrameOfReferenceUID
    frame.RTReferencedStudySequence = DicomSequence([study])
    return frame


def _contours(mask: np.ndarray, cts: Sequence[Dataset]) -> list[Dataset]:
    """CLOSED_PLANAR contours of one class, slice by slice, each referencing its slice."""
    contours = []
    for k, ct in enumerate(cts):
        for polygon in mask_to_polygons(mask[:, :, k]):
            contour = Dataset()
            contour.ContourImageSequence = DicomSequence([_image_reference(ct)])
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(polygon)
            contour.ContourNumber = len(contours) + 1
            contour.ContourData = _ds_text(pixel_to_patient(polygon, ct))
            contours.append(contour)
    return contours


def _interpreted_types(class_names: Sequence[str], given: Mapping[str, str] | None) -> dict[str, str]:
    given = dict(given or {})
    unknown = sorted(set(given) - set(class_names[1:]))
    if unknown:
        raise ConfigError(f"interpreted_types: {unknown} are not foreground classes ({', '.join(class_names[1:])})")
    bad = sorted(v for v in given.values() if v not in INTERPRETED_TYPES)
    if bad:
        raise ConfigError(f"interpreted_types: {bad} are not RT ROI Interpreted Types "
                          f"({', '.join(sorted(t for t in INTERPRETED_TYPES if t))})")
    return {name: given.get(name, "ORGAN") for name in class_names[1:]}


def _header(cts: Sequence[Dataset], series_number: int, now: datetime.datetime) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTStructureSetStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    copy_patient_and_study(cts[0], ds)
    ds.SOPClassUID = RTStructureSetStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceCreationDate = ds.StructureSetDate = ds.SeriesDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = ds.StructureSetTime = ds.SeriesTime = now.strftime("%H%M%S")
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = SERIES_DESCRIPTION
    ds.OperatorsName = ""
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MANUFACTURER
    ds.SoftwareVersions = software_version()
    ds.InstanceNumber = 1
    copy_frame_of_reference(cts[0], ds)
    ds.StructureSetLabel = MANUFACTURER
    ds.StructureSetName = SERIES_DESCRIPTION
    ds.ApprovalStatus = "UNAPPROVED"
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([_referenced_frame_of_reference(cts)])
    return ds


def build_rtstruct(label_volume: np.ndarray, ct_datasets: Sequence[Dataset], class_names: Sequence[str],
                   colours: Mapping[str, Sequence[int]] | None = None,
                   interpreted_types: Mapping[str, str] | None = None, series_number: int = 901) -> Dataset:
    """The RT Structure Set as a pydicom Dataset (see :func:`write_rtstruct`)."""
    names = list(class_names)
    labels = check_labels(label_volume, names)
    check_series(ct_datasets, labels.shape)
    cts = list(ct_datasets)
    colour_of = class_colours(names, colours)
    type_of = _interpreted_types(names, interpreted_types)
    ds = _header(cts, series_number, datetime.datetime.now())
    rois, roi_contours, observations = [], [], []
    for label in present_classes(labels, names):
        name = names[label]
        roi = Dataset()
        roi.ROINumber = label
        roi.ReferencedFrameOfReferenceUID = cts[0].FrameOfReferenceUID
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "AUTOMATIC"
        roi.ROIGenerationDescription = f"{MANUFACTURER} {software_version()}"
        rois.append(roi)
        roi_contour = Dataset()
        roi_contour.ROIDisplayColor = list(colour_of[label])
        roi_contour.ContourSequence = DicomSequence(_contours(labels == label, cts))
        roi_contour.ReferencedROINumber = label
        roi_contours.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber = label
        observation.ReferencedROINumber = label
        observation.ROIObservationLabel = name
        observation.RTROIInterpretedType = type_of[name]
        observation.ROIInterpreter = ""
        observations.append(observation)
        log.info("RTSTRUCT ROI %d %r: %d contours", label, name, len(roi_contour.ContourSequence))
    ds.StructureSetROISequence = DicomSequence(rois)
    ds.ROIContourSequence = DicomSequence(roi_contours)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    return ds


def write_rtstruct(label_volume: np.ndarray, ct_datasets: Sequence[Dataset], class_names: Sequence[str],
                   path: str | Path, colours: Mapping[str, Sequence[int]] | None = None,
                   interpreted_types: Mapping[str, str] | None = None, series_number: int = 901) -> Path:
    """Write ``label_volume`` as an RTSTRUCT on the CT series ``ct_datasets`` (atomically); returns the path.

    ``label_volume[i, j, k]``: row i, column j of ``ct_datasets[k]``, the slices in :func:`.geometry.sort_slices`
    order (headers are enough: ``dcmread(..., stop_before_pixels=True)``). ``class_names[c]`` names label value c
    (0 is the background). ``colours`` maps class name → RGB 0-255 (default: a fixed palette);
    ``interpreted_types`` class name → RTROIInterpretedType (default ``ORGAN``).
    """
    dataset = build_rtstruct(label_volume, ct_datasets, class_names, colours, interpreted_types, series_number)
    path = atomic_write(path, lambda handle: pydicom.dcmwrite(handle, dataset, enforce_file_format=True))
    log.info("wrote RTSTRUCT %s (%d ROIs)", path, len(dataset.StructureSetROISequence))
    return path
