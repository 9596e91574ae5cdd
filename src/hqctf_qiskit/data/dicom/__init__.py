"""DICOM in: a CT series as an HU volume with its geometry, RTSTRUCT structures as labels on it, by geometry.

``read_dicom_case`` is the entry point for a patient folder; ``read_ct_series``, ``structure_map`` and
``rtstruct_labels`` are its parts, for an image folder without contours or an explicit (series, RTSTRUCT) pair.
"""

from .case import DicomCase, read_dicom_case
from .rtstruct import StructureReport, even_odd_fill, rtstruct_labels
from .scan import DicomScan, scan_dicom
from .series import CTVolume, SliceRef, read_ct_series
from .structures import StructureMap, StructureRule, structure_map

__all__ = [
    "CTVolume",
    "DicomCase",
    "DicomScan",
    "SliceRef",
    "StructureMap",
    "StructureReport",
    "StructureRule",
    "even_odd_fill",
    "read_ct_series",
    "read_dicom_case",
    "rtstruct_labels",
    "scan_dicom",
    "structure_map",
]
