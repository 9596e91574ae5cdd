"""Phantom, splits, windowing and the slice cache."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from hqctf_qiskit.data import (
    DataError, SliceDataset, load_case, load_splits, make_sampler, make_splits, save_splits, window_and_scale,
    write_phantom_dataset,
)

from helpers import REAL_CT_DIR, requires_real_ct


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("ph")
    write_phantom_dataset(root, cases=6, seed=4, shape=(48, 48, 16))
    return root


def load_all(root, n=6):
    return [load_case(root / f"case_{i:05d}" / "imaging.nii.gz", root / f"case_{i:05d}" / "segmentation.nii.gz")
            for i in range(n)]


def test_phantom_is_deterministic_and_seed_dependent(tmp_path, phantom):
    write_phantom_dataset(tmp_path / "again", cases=6, seed=4, shape=(48, 48, 16))
    write_phantom_dataset(tmp_path / "other", cases=6, seed=5, shape=(48, 48, 16))
    for case in (f"case_{i:05d}" for i in range(6)):
        a = np.asarray(nib.load(phantom / case / "imaging.nii.gz").dataobj)
        b = np.asarray(nib.load(tmp_path / "again" / case / "imaging.nii.gz").dataobj)
        assert np.array_equal(a, b)
    a = np.asarray(nib.load(phantom / "case_00000" / "imaging.nii.gz").dataobj)
    c = np.asarray(nib.load(tmp_path / "other" / "case_00000" / "imaging.nii.gz").dataobj)
    assert not np.array_equal(a, c)


def test_phantom_anatomy(phantom):
    cases = load_all(phantom)
    assert all(set(np.unique(c.label)) <= {0, 1, 2} for c in cases)
    with_tumor = [c for c in cases if (c.label == 2).any()]
    assert with_tumor and len(with_tumor) < len(cases), "some cases with tumor, some tumor-free"
    for c in with_tumor:
        cortex_hu = np.percentile(c.image[c.label == 1], 90)  # the bright rim of the kidney
        assert cortex_hu - c.image[c.label == 2].mean() > 30, "tumors enhance less than renal cortex"
    body = [c.image[c.label == 1].mean() for c in cases]
    assert all(0 < hu < 300 for hu in body), "kidney HU in a soft-tissue range"
    assert len({c.spacing[2] for c in cases}) > 1, "several slice spacings"
    kidney_slices = [(c.label > 0).any(axis=(0, 1)).sum() for c in cases]
    assert all(0 < k < c.label.shape[2] for k, c in zip(kidney_slices, cases)), "kidneys on some slices, not all"


@pytest.mark.parametrize("count", [2, 3, 5, 12])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_splits_are_disjoint_cover_all_and_are_seeded(count, seed):
    ids = [f"case_{i:05d}" for i in range(count)]
    splits = make_splits(ids, seed=seed)
    assert splits == make_splits(ids, seed=seed)
    parts = [set(splits[k]) for k in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == count and set().union(*parts) == set(ids)
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]), "a case in two splits"
    if count >= 3:
        assert all(parts)


def test_too_few_cases():
    with pytest.raises(DataError, match="at least 2"):
        make_splits(["only"], seed=0)


def test_split_file_round_trip_and_rejections(tmp_path):
    ids = [f"c{i}" for i in range(6)]
    path = tmp_path / "splits.json"
    save_splits(make_splits(ids, seed=2), path)
    assert load_splits(path, known_case_ids=ids) == make_splits(ids, seed=2)
    path.write_text(json.dumps({"train": ["c0", "c1"], "val": ["c1"], "test": []}))
    with pytest.raises(DataError, match="splits.json"):
        load_splits(path, known_case_ids=ids)
    path.write_text(json.dumps({"train": ["zz"], "val": ["c1"], "test": []}))
    with pytest.raises(DataError, match="splits.json.*zz"):
        load_splits(path, known_case_ids=ids)
    path.write_text("{not json")
    with pytest.raises(DataError, match="splits.json"):
        load_splits(path)


def test_window_and_scale():
    hu = np.array([-1000.0, -79.0, 112.5, 304.0, 2000.0])
    assert window_and_scale(hu).tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    with pytest.raises(DataError, match="--window"):
        window_and_scale(hu, (300, -50))


def test_slice_dataset_is_cached_in_memory(tmp_path, phantom):
    root = tmp_path / "copy"
    shutil.copytree(phantom, root)
    dataset = SliceDataset(load_all(root, 3), image_size=32)
    shutil.rmtree(root)  # no NIfTI read after construction
    image, label = dataset[5]
    assert image.shape == (1, 32, 32) and label.shape == (32, 32)
    assert image.dtype.is_floating_point and 0.0 <= image.min() and image.max() <= 1.0
    assert len(dataset) == 3 * 16 and dataset.slice_index[17] == ("case_00001", 1)
    assert dataset.has_foreground.any() and not dataset.has_foreground.all()


def test_foreground_sampler_draws_the_requested_share(phantom):
    dataset = SliceDataset(load_all(phantom, 4), image_size=16)
    for fraction in (0.2, 0.5, 0.9):
        drawn = list(make_sampler(dataset, fraction, 4000, seed=1))
        share = dataset.has_foreground[drawn].mean()
        assert abs(share - fraction) < 0.04
        assert drawn == list(make_sampler(dataset, fraction, 4000, seed=1))


@requires_real_ct
def test_real_ct_with_kidney_label_map():
    case = load_case(REAL_CT_DIR / "example_ct_sm.nii.gz", REAL_CT_DIR / "example_seg.nii.gz",
                     label_map={2: 1, 3: 1}, num_classes=2)
    assert int((case.label == 1).sum()) == 3947 + 3676
    assert case.image.min() >= -1100 and case.image.max() <= 1207
    assert nib.aff2axcodes(case.affine) == ("R", "A", "S")
    assert case.image.shape == (122, 101, 30)
