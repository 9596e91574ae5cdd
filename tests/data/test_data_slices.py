"""Slice dataset and foreground sampler: shapes, value ranges, in-memory cache, seeded foreground share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hqctf_qiskit.data import CaseVolume, DataError, SliceDataset, load_case, make_sampler


def _case(case_id: str, shape=(40, 30, 10), fg_slices=(3, 4), seed: int = 0) -> CaseVolume:
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1000, 1000, size=shape).astype(np.float32)
    label = np.zeros(shape, dtype=np.uint8)
    for z in fg_slices:
        label[10:20, 8:16, z] = 1
        label[12:15, 10:13, z] = 2
    return CaseVolume(case_id, image, label, np.eye(4), (1.0, 1.0, 1.0), Path(f"{case_id}.nii.gz"), None)


def test_items_shapes_dtypes_and_range() -> None:
    ds = SliceDataset([_case("a"), _case("b", shape=(25, 25, 6), fg_slices=(0,))], image_size=32)
    assert len(ds) == 16
    assert ds.slice_index[:2] == [("a", 0), ("a", 1)] and ds.slice_index[10] == ("b", 0)
    image, label = ds[3]
    assert image.shape == (1, 32, 32) and image.dtype == torch.float32
    assert label.shape == (32, 32) and label.dtype == torch.long
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert set(label.unique().tolist()) == {0, 1, 2}
    assert ds.has_foreground.dtype == bool
    assert np.flatnonzero(ds.has_foreground).tolist() == [3, 4, 10]


def test_slice_is_the_axial_plane_of_the_volume() -> None:
    case = _case("a", shape=(32, 32, 5))
    ds = SliceDataset([case], image_size=32, window=(-1000, 1000))
    image, label = ds[2]  # same size: only windowing applies
    np.testing.assert_allclose(image[0].numpy(), (case.image[:, :, 2] + 1000) / 2000, atol=1e-6)
    np.testing.assert_array_equal(label.numpy(), case.label[:, :, 2])


def test_unlabelled_case_is_rejected() -> None:
    case = _case("a")
    case.label = None
    with pytest.raises(DataError, match="a.nii.gz: case a has no label"):
        SliceDataset([case])


def test_no_nifti_reads_after_construction(write_nifti, tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(-200, 300, size=(20, 20, 4)).astype(np.int16)
    label = np.zeros((20, 20, 4), np.uint8)
    label[5:10, 5:10, 1] = 1
    case = load_case(write_nifti("img.nii.gz", image), write_nifti("seg.nii.gz", label))
    ds = SliceDataset([case], image_size=16)
    for path in tmp_path.glob("*.nii.gz"):
        path.unlink()
    batch = torch.utils.data.default_collate([ds[i] for i in range(len(ds))])
    assert batch[0].shape == (4, 1, 16, 16) and int(batch[1][1].sum()) > 0


def _fg_dataset() -> SliceDataset:
    # 40 slices, 4 with foreground (10%).
    return SliceDataset([_case("a", (16, 16, 20), (2, 9)), _case("b", (16, 16, 20), (0, 19))], image_size=16)


@pytest.mark.parametrize("fraction", [0.0, 0.33, 0.5, 0.9])
def test_sampler_draws_requested_foreground_fraction(fraction: float) -> None:
    ds = _fg_dataset()
    drawn = list(make_sampler(ds, fraction, num_samples=4000, seed=0))
    assert len(drawn) == 4000
    share = ds.has_foreground[drawn].mean()
    assert share == pytest.approx(fraction, abs=0.03)


def test_sampler_is_seeded() -> None:
    ds = _fg_dataset()
    first = list(make_sampler(ds, 0.5, 200, seed=7))
    assert list(make_sampler(ds, 0.5, 200, seed=7)) == first
    assert list(make_sampler(ds, 0.5, 200, seed=8)) != first
    assert len(list(make_sampler(ds, 0.5, None, seed=0))) == len(ds)


def test_dataset_sampler_uses_its_settings() -> None:
    ds = SliceDataset([_case("a", (16, 16, 20), (2, 9))], image_size=16, foreground_fraction=0.5, seed=3)
    assert list(ds.sampler(50)) == list(make_sampler(ds, 0.5, 50, seed=3))
    assert SliceDataset([_case("a")], image_size=16).sampler() is None


def test_sampler_without_foreground_falls_back_to_uniform() -> None:
    ds = SliceDataset([_case("a", (16, 16, 10), ())], image_size=16)
    drawn = list(make_sampler(ds, 0.5, 1000, seed=0))
    assert len(set(drawn)) == 10


def test_sampler_rejects_bad_fraction() -> None:
    with pytest.raises(DataError, match="^--foreground-fraction"):
        make_sampler(_fg_dataset(), 1.5, 10, seed=0)
