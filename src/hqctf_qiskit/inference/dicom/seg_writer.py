"""A label volume → a DICOM Segmentation (BINARY) on its CT series, built by highdicom.

One segment per foreground class present, numbered 1, 2, … in label-value order (DICOM-SEG wants consecutive
numbers, so a class absent from this patient shifts the numbers after it; match segments by their label, which is
the class name). Each segment says it was made automatically by the algorithm ``hqctf-qiskit`` (family: artificial
intelligence) and carries the class's display colour. Segmented property codes default to SNOMED CT "Tissue" for
both category and type (a class name alone does not say what anatomy it is); pass ``property_codes`` to code a class
properly. Frames reference their CT slices by SOP instance; highdicom derives the plane positions from the slices.
Patient and study attributes are set from the CT by :mod:`.ct_modules` (as for the RTSTRUCT),
over highdicom's own copies, so both formats treat an invalid CT value alike.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from ...errors import ConfigError
from ...io import atomic_write
from .classes import check_labels, class_colours, present_classes
from .ct_modules import copy_patient_and_study, values_kept_out_of_warnings
from .geometry import check_series
from .maker import MANUFACTURER, SERIES_DESCRIPTION, software_version

__all__ = ["write_seg", "build_seg", "DEFAULT_PROPERTY"]

log = logging.getLogger(__name__)

DEFAULT_PROPERTY = (codes.SCT.Tissue, codes.SCT.Tissue)
"""(segmented property category, segmented property type) of a class without ``property_codes``."""


def _property_codes(class_names: Sequence[str],
                    given: Mapping[str, tuple[Code, Code]] | None) -> dict[str, tuple[Code, Code]]:
    given = dict(given or {})
    unknown = sorted(set(given) - set(class_names[1:]))
    if unknown:
        raise ConfigError(f"property_codes: {unknown} are not foreground classes ({', '.join(class_names[1:])})")
    return {name: tuple(given.get(name, DEFAULT_PROPERTY)) for name in class_names[1:]}  # type: ignore[misc]


def build_seg(label_volume: np.ndarray, ct_datasets: Sequence[Dataset], class_names: Sequence[str],
              colours: Mapping[str, Sequence[int]] | None = None,
              property_codes: Mapping[str, tuple[Code, Code]] | None = None,
              series_number: int = 902) -> hd.seg.Segmentation:
    """The DICOM-SEG as a highdicom Segmentation (see :func:`write_seg`)."""
    names = list(class_names)
    labels = check_labels(label_volume, names)
    check_series(ct_datasets, labels.shape)
    cts = list(ct_datasets)
    colour_of = class_colours(names, colours)
    code_of = _property_codes(names, property_codes)
    present = present_classes(labels, names)
    algorithm = hd.AlgorithmIdentificationSequence(name=MANUFACTURER, family=codes.cid7162.ArtificialIntelligence,
                                                   version=software_version())
    descriptions = []
    for number, label in enumerate(present, start=1):
        category, property_type = code_of[names[label]]
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=names[label], segmented_property_category=category,
            segmented_property_type=property_type, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm, display_color=hd.color.CIELabColor.from_rgb(*colour_of[label])))
    # highdicom wants frames first: [slices, rows, columns, segments], slices in the order of source_images
    pixels = np.stack([labels == label for label in present], axis=-1).transpose(2, 0, 1, 3)
    with values_kept_out_of_warnings():  # highdicom copies (and checks) the CT's patient and study attributes
        seg = hd.seg.Segmentation(
            source_images=cts, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=generate_uid(), series_number=series_number,
            sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
            manufacturer_model_name=MANUFACTURER, software_versions=software_version(),
            device_serial_number="none", series_description=SERIES_DESCRIPTION)
    copy_patient_and_study(cts[0], seg)
    return seg


def write_seg(label_volume: np.ndarray, ct_datasets: Sequence[Dataset], class_names: Sequence[str],
              path: str | Path, colours: Mapping[str, Sequence[int]] | None = None,
              property_codes: Mapping[str, tuple[Code, Code]] | None = None, series_number: int = 902) -> Path:
    """Write ``label_volume`` as a BINARY DICOM-SEG on the CT series ``ct_datasets`` (atomically); returns the path.

    Same inputs as :func:`.rtstruct_writer.write_rtstruct`: ``label_volume[i, j, k]`` is row i, column j of
    ``ct_datasets[k]`` (slices in :func:`.geometry.sort_slices` order, headers suffice); ``class_names[c]`` names
    label value c, 0 the background. ``property_codes`` maps class name → (category, type) codes.
    """
    dataset = build_seg(label_volume, ct_datasets, class_names, colours, property_codes, series_number)
    path = atomic_write(path, lambda handle: pydicom.dcmwrite(handle, dataset, enforce_file_format=True))
    log.info("wrote SEG %s (%d segments)", path, len(dataset.SegmentSequence))
    return path
