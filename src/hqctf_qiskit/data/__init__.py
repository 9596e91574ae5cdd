"""Data layer: cases from NIfTI/NRRD/MHA, DICOM CT + RTSTRUCT, KiTS/nnU-Net/MSD layouts or case lists, loaded onto
the RAS grid; the dataset check; HU windowing, 2D slices, patient splits, synthetic phantom."""

from .cases import CaseVolume, load_case
from .check import CaseCheck, DatasetCheck, check_cases
from .datasets import CasePaths, DatasetInfo, describe_dataset, discover_cases
from .errors import DataError
from .images import read_image
from .labels import parse_label_map
from .nifti import case_id_from_path, from_canonical, load_nifti, to_canonical
from .phantom import make_phantom_case, write_phantom_dataset
from .preprocessing import DEFAULT_WINDOW, resize_slice, resize_to, window_and_scale
from .slices import SliceDataset, make_sampler, with_item_seeds
from .splits import load_splits, make_splits, save_splits

__all__ = [
    "DEFAULT_WINDOW",
    "CaseCheck",
    "CasePaths",
    "CaseVolume",
    "DataError",
    "DatasetCheck",
    "DatasetInfo",
    "SliceDataset",
    "case_id_from_path",
    "check_cases",
    "describe_dataset",
    "discover_cases",
    "from_canonical",
    "load_case",
    "load_nifti",
    "load_splits",
    "make_phantom_case",
    "make_sampler",
    "make_splits",
    "parse_label_map",
    "read_image",
    "resize_slice",
    "resize_to",
    "save_splits",
    "to_canonical",
    "window_and_scale",
    "with_item_seeds",
    "write_phantom_dataset",
]
