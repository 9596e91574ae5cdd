"""Data layer: NIfTI/KiTS loading on the RAS grid, HU windowing, 2D slices, patient splits, synthetic phantom."""

from .datasets import CasePaths, discover_cases
from .errors import DataError
from .nifti import CaseVolume, case_id_from_path, from_canonical, load_case, load_nifti, parse_label_map, to_canonical
from .phantom import make_phantom_case, write_phantom_dataset
from .preprocessing import DEFAULT_WINDOW, resize_slice, resize_to, window_and_scale
from .slices import SliceDataset, make_sampler
from .splits import load_splits, make_splits, save_splits

__all__ = [
    "DEFAULT_WINDOW",
    "CasePaths",
    "CaseVolume",
    "DataError",
    "SliceDataset",
    "case_id_from_path",
    "discover_cases",
    "from_canonical",
    "load_case",
    "load_nifti",
    "load_splits",
    "make_phantom_case",
    "make_sampler",
    "make_splits",
    "parse_label_map",
    "resize_slice",
    "resize_to",
    "save_splits",
    "to_canonical",
    "window_and_scale",
    "write_phantom_dataset",
]
