"""Predictions back to the planning system: a label volume on a CT series → RTSTRUCT (contours) or DICOM-SEG.

Inputs of both writers: the CT series as pydicom headers in :func:`sort_slices` order and a label volume
``labels[i, j, k]`` = row i, column j of slice k (see :mod:`.geometry`), with ``class_names[c]`` naming label value c
(0 the background). The written files copy the CT's patient, study and frame-of-reference attributes and nothing
else about the patient (:mod:`.ct_modules`); every file goes through the atomic writer.

The names below are loaded on first use (PEP 562): importing this package does not import highdicom.
"""

from __future__ import annotations

from ...lazy import lazy_exports

_EXPORTS = {
    "write_rtstruct": ".rtstruct_writer", "build_rtstruct": ".rtstruct_writer",
    "INTERPRETED_TYPES": ".rtstruct_writer",
    "write_seg": ".seg_writer", "build_seg": ".seg_writer",
    "mask_to_polygons": ".contours", "CONTOUR_LEVEL": ".contours",
    "sort_slices": ".geometry", "check_series": ".geometry", "pixel_to_patient": ".geometry",
    "PALETTE": ".classes",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
