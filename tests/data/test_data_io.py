"""NIfTI loading: orientation, label handling and every kind of bad input (each error names its file/option)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hqctf_qiskit.data import (
    DataError, discover_cases, from_canonical, load_case, load_nifti, parse_label_map, to_canonical,
)


def save(path: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(array, affine), path)
    return path


def lps_affine() -> np.ndarray:
    return np.diag([-0.8, -0.8, 3.0, 1.0])


def kits19_affine() -> np.ndarray:
    """KiTS19 stores (slices, H, W): voxel axis 0 runs along S, axes 1 and 2 along A and R (permuted, flipped)."""
    return np.array([[0, 0, -0.9, 0], [0, -0.9, 0, 0], [-3.0, 0, 0, 0], [0, 0, 0, 1]], dtype=float)


@pytest.mark.parametrize("affine", [lps_affine(), kits19_affine(), np.diag([1.0, 1.0, 2.5, 1.0])])
def test_canonical_is_ras_and_round_trips(tmp_path, affine):
    data = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    img = load_nifti(save(tmp_path / "img.nii.gz", data, affine))
    array, canonical_affine = to_canonical(img)
    assert nib.aff2axcodes(canonical_affine) == ("R", "A", "S")
    assert np.array_equal(from_canonical(array, img), data)
    # the same physical voxel keeps its value: world coordinate of voxel (1, 2, 3) is found again after reorienting
    world = affine @ np.array([1, 2, 3, 1])
    ijk = np.round(np.linalg.inv(canonical_affine) @ world).astype(int)[:3]
    assert array[tuple(ijk)] == data[1, 2, 3]


def test_load_case_reorients_both_and_keeps_labels_aligned(tmp_path):
    image = np.random.default_rng(0).normal(0, 50, (6, 8, 5)).astype(np.float32)
    label = (image > 40).astype(np.uint16)  # uint16 label dtype, as some datasets ship
    case = load_case(save(tmp_path / "im.nii.gz", image, kits19_affine()),
                     save(tmp_path / "lb.nii.gz", label, kits19_affine()))
    assert case.label.dtype == np.uint8 and case.image.dtype == np.float32
    assert np.array_equal(case.label.astype(bool), case.image > 40)
    assert nib.aff2axcodes(case.affine) == ("R", "A", "S")
    assert sorted(case.spacing) == pytest.approx([0.9, 0.9, 3.0])


def test_label_map_sends_unlisted_labels_to_background(tmp_path):
    label = np.array([0, 1, 2, 3, 5, 42], dtype=np.uint8).reshape(1, 2, 3)
    image = np.zeros(label.shape, np.int16)
    case = load_case(save(tmp_path / "i.nii", image, np.eye(4)), save(tmp_path / "l.nii", label, np.eye(4)),
                     label_map=parse_label_map("2:1,3:1"), num_classes=2)
    assert case.label.ravel().tolist() == [0, 0, 1, 1, 0, 0]


@pytest.mark.parametrize("text", ["2-1", "a:1", "2:1,,", "1:-1", "2:1,2:0"])
def test_malformed_label_map_names_the_option(text):
    with pytest.raises(DataError, match="--label-map"):
        parse_label_map(text)


def make_pair(tmp_path: Path, image: np.ndarray, label: np.ndarray, label_affine: np.ndarray | None = None):
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    return (save(tmp_path / "imaging.nii.gz", image, affine),
            save(tmp_path / "segmentation.nii.gz", label, affine if label_affine is None else label_affine))


def test_bad_pairs_are_rejected_naming_the_file(tmp_path):
    image = np.zeros((4, 4, 3), np.float32)
    im, lb = make_pair(tmp_path, image, np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(DataError, match=r"segmentation.nii.gz.*shape"):
        load_case(im, lb)
    im, lb = make_pair(tmp_path, image, np.zeros((4, 4, 3), np.uint8), np.diag([1.0, 1.0, 2.5, 1.0]))
    with pytest.raises(DataError, match=r"segmentation.nii.gz.*affine"):
        load_case(im, lb)
    labels = np.zeros((4, 4, 3), np.uint8)
    labels[0, 0, 0] = 5
    im, lb = make_pair(tmp_path, image, labels)
    with pytest.raises(DataError, match=r"segmentation.nii.gz.*5"):
        load_case(im, lb, num_classes=3)
    bad = image.copy()
    bad[1, 1, 1], bad[2, 2, 2] = np.nan, np.inf
    im, lb = make_pair(tmp_path, bad, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match=r"imaging.nii.gz: 2 non-finite"):
        load_case(im, lb)
    im, lb = make_pair(tmp_path, image, np.full((4, 4, 3), 0.5, np.float32))
    with pytest.raises(DataError, match=r"segmentation.nii.gz"):
        load_case(im, lb)


def test_missing_and_non_nifti_files(tmp_path):
    with pytest.raises(DataError, match="nope.nii.gz: file not found"):
        load_nifti(tmp_path / "nope.nii.gz")
    text = tmp_path / "scan.txt"
    text.write_text("x")
    with pytest.raises(DataError, match="scan.txt: not a NIfTI file"):
        load_nifti(text)
    corrupt = tmp_path / "broken.nii.gz"
    corrupt.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match="broken.nii.gz: unreadable NIfTI"):
        load_nifti(corrupt)


def test_discover_kits_folder_and_lists(tmp_path):
    for name in ("case_00002", "case_00000"):
        (tmp_path / "kits" / name).mkdir(parents=True)
        make_pair(tmp_path / "kits" / name, np.zeros((2, 2, 2), np.int16), np.zeros((2, 2, 2), np.uint8))
    cases = discover_cases(tmp_path / "kits")
    assert [c.case_id for c in cases] == ["case_00000", "case_00002"]
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("image,label\nkits/case_00000/imaging.nii.gz,kits/case_00000/segmentation.nii.gz\n")
    (listed,) = discover_cases(csv_file)
    assert listed.image == tmp_path / "kits" / "case_00000" / "imaging.nii.gz"
    json_file = tmp_path / "list.json"
    json_file.write_text('[{"image": "kits/case_00002/imaging.nii.gz", "label": "kits/case_00002/segmentation.nii.gz",'
                         ' "case_id": "p2"}]')
    assert [c.case_id for c in discover_cases(json_file)] == ["p2"]


def test_discover_errors_name_the_path(tmp_path):
    with pytest.raises(DataError, match="missing_dir"):
        discover_cases(tmp_path / "missing_dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        discover_cases(tmp_path / "empty")
    listing = tmp_path / "list.csv"
    listing.write_text("image,label\nghost.nii.gz,ghost_seg.nii.gz\n")
    with pytest.raises(DataError, match="ghost"):
        discover_cases(listing)
    dup = tmp_path / "dup.json"
    (tmp_path / "a.nii.gz").write_bytes(b"")
    dup.write_text('[{"image": "a.nii.gz", "case_id": "x"}, {"image": "a.nii.gz", "case_id": "x"}]')
    with pytest.raises(DataError, match="dup.json"):
        discover_cases(dup)
