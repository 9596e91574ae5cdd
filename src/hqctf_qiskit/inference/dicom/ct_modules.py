"""The patient, study and frame-of-reference modules of a written RTSTRUCT/SEG: from its CT series, nowhere else.

A planning system files an imported structure set under the patient and study of its CT and refuses (or misfiles)
one whose patient module differs, so the patient attributes are copied exactly. Study attributes are copied too;
one whose CT value breaks its own value representation (the shared STS series carry a 17-character Study ID, SH
allows 16) is written empty — these are Type 2 attributes, "unknown" is valid where a cut value would be a
different one — and a warning names the attribute, never its value. Nothing here logs a patient attribute.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.datadict import dictionary_VR
from pydicom.valuerep import validate_value

from ...errors import DataError
from .geometry import describe

__all__ = ["PATIENT_ATTRIBUTES", "STUDY_ATTRIBUTES", "copy_patient_and_study", "copy_frame_of_reference",
           "values_kept_out_of_warnings"]

log = logging.getLogger(__name__)

PATIENT_ATTRIBUTES = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
"""Type 2 attributes of the Patient module: always written, empty when the CT has none."""

_PATIENT_OPTIONAL = ("PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence")
"""Type 3 attributes copied when the CT has them (a de-identified CT gives a structure set that says so)."""

STUDY_ATTRIBUTES = ("StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")
"""Type 2 attributes of the General Study module (StudyInstanceUID, Type 1, is copied as well)."""

_STUDY_OPTIONAL = ("StudyDescription",)


@contextmanager
def values_kept_out_of_warnings() -> Iterator[None]:
    """While CT attributes are read: no warning quotes a value (a patient name or ID would reach stderr and logs).

    pydicom's validation messages quote invalid values ("Invalid value for VR LO: '...'") and highdicom warns with
    the patient's name when it has a single component; this module checks copied values itself, silently.
    """
    with config.disable_value_validation(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The string .* is unlikely to represent the intended person name")
        yield


def _element(source: Dataset, keyword: str) -> DataElement | None:
    """The CT's element, or None when it is absent or its value breaks its VR (checked strictly)."""
    if keyword not in source:
        return None
    try:
        element = source[keyword]  # converting a raw element may raise under a strict reading mode
        if element.VR != "SQ":
            validate_value(element.VR, element.value, config.RAISE)
    except ValueError:
        return None
    return copy.deepcopy(element)


def _copy(source: Dataset, target: Dataset, keyword: str, required: bool, exact: bool, index: int) -> None:
    if keyword not in source:
        if required:
            target.add_new(keyword, dictionary_VR(keyword), None)
        return
    element = _element(source, keyword)
    if element is not None:
        target.add(element)
    elif exact:
        raise DataError(f"{describe(source, index)}: {keyword} is not valid DICOM; the written file must copy it "
                        "exactly, so fix the CT series first")
    else:
        log.warning("%s of the CT series does not fit its value representation; written empty", keyword)
        target.add_new(keyword, dictionary_VR(keyword), None)


def copy_patient_and_study(ct: Dataset, target: Dataset, index: int = 0) -> None:
    """Patient module exactly, study module (values that break their VR written empty), character set: CT → target."""
    with values_kept_out_of_warnings():
        _copy_patient_and_study(ct, target, index)


def _copy_patient_and_study(ct: Dataset, target: Dataset, index: int) -> None:
    if "SpecificCharacterSet" in ct:
        target.SpecificCharacterSet = copy.deepcopy(ct.SpecificCharacterSet)
    for keyword in PATIENT_ATTRIBUTES:
        _copy(ct, target, keyword, required=True, exact=True, index=index)
    for keyword in _PATIENT_OPTIONAL:
        _copy(ct, target, keyword, required=False, exact=True, index=index)
    target.StudyInstanceUID = ct.StudyInstanceUID
    for keyword in STUDY_ATTRIBUTES:
        _copy(ct, target, keyword, required=True, exact=False, index=index)
    for keyword in _STUDY_OPTIONAL:
        _copy(ct, target, keyword, required=False, exact=False, index=index)


def copy_frame_of_reference(ct: Dataset, target: Dataset, index: int = 0) -> None:
    """The Frame of Reference module (the RT Structure Set IOD includes it): the CT's UID and reference indicator."""
    target.FrameOfReferenceUID = ct.FrameOfReferenceUID
    with values_kept_out_of_warnings():
        _copy(ct, target, "PositionReferenceIndicator", required=True, exact=False, index=index)
