"""Real abdominal CT (TotalSegmentator example, ../shared): loading, RAS, kidney label remap, slicing."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hqctf_qiskit.data import SliceDataset, from_canonical, load_case, parse_label_map

REAL_CT_DIR = Path(__file__).resolve().parents[2].parent / "shared/data/totalseg-example-ct"
KIDNEY_VOXELS = 3947 + 3676  # kidney_right (2) + kidney_left (3), from the fixture's README


@pytest.fixture(scope="module")
def real_paths() -> tuple[Path, Path]:
    image, label = REAL_CT_DIR / "example_ct_sm.nii.gz", REAL_CT_DIR / "example_seg.nii.gz"
    if not (image.is_file() and label.is_file()):
        pytest.skip(f"real CT fixture not found in {REAL_CT_DIR}")
    return image, label


@pytest.mark.parametrize("num_classes", [2, 3])
def test_real_ct_loads_as_kidney_only(real_paths: tuple[Path, Path], num_classes: int) -> None:
    image_path, label_path = real_paths
    case = load_case(image_path, label_path, label_map=parse_label_map("2:1,3:1"), num_classes=num_classes)
    assert case.case_id == "example_ct_sm"
    assert case.image.shape == case.label.shape == (122, 101, 30)
    assert nib.aff2axcodes(case.affine) == ("R", "A", "S")
    assert case.spacing == pytest.approx((3.0, 3.0, 3.0))
    assert int((case.label == 1).sum()) == KIDNEY_VOXELS
    assert set(np.unique(case.label).tolist()) == {0, 1}
    assert case.image.min() == pytest.approx(-1100) and case.image.max() == pytest.approx(1207)
    # Soft tissue, not air, under the kidney mask.
    assert 0 < float(np.median(case.image[case.label == 1])) < 300


def test_real_ct_without_label_map_is_rejected(real_paths: tuple[Path, Path]) -> None:
    image_path, label_path = real_paths
    with pytest.raises(ValueError, match=r"example_seg.nii.gz: label values \[3, 4, 5"):
        load_case(image_path, label_path, num_classes=3)


def test_real_ct_round_trip_and_slices(real_paths: tuple[Path, Path]) -> None:
    image_path, label_path = real_paths
    case = load_case(image_path, label_path, label_map={2: 1, 3: 1}, num_classes=2)
    reference = nib.load(image_path)
    np.testing.assert_array_equal(from_canonical(case.image, reference), reference.get_fdata(dtype=np.float32))
    ds = SliceDataset([case], patch_size=64)
    assert len(ds) == 30
    kidney_slices = (case.label > 0).any(axis=(0, 1))
    np.testing.assert_array_equal(ds.has_foreground, kidney_slices)
