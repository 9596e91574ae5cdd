"""Slice dataset, crops and foreground sampler: physical resampling, patch crops, seeded foreground share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from hqctf_qiskit.data import CaseVolume, DataError, SliceDataset, load_case, make_sampler, with_item_seeds
from hqctf_qiskit.data.preprocessing import median_inplane_spacing


def _case(case_id: str, shape=(40, 30, 10), fg_slices=(3, 4), seed: int = 0,
          spacing=(1.0, 1.0, 1.0)) -> CaseVolume:
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1000, 1000, size=shape).astype(np.float32)
    label = np.zeros(shape, dtype=np.uint8)
    for z in fg_slices:
        label[10:20, 8:16, z] = 1
        label[12:15, 10:13, z] = 2
    affine = np.diag([*spacing, 1.0])
    return CaseVolume(case_id, image, label, affine, tuple(spacing), Path(f"{case_id}.nii.gz"), None)


def test_items_shapes_dtypes_and_range() -> None:
    ds = SliceDataset([_case("a"), _case("b", shape=(25, 25, 6), fg_slices=(0,))], patch_size=32)
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
    ds = SliceDataset([case], patch_size=32, window=(-1000, 1000))
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
    ds = SliceDataset([case], patch_size=16)
    for path in tmp_path.glob("*.nii.gz"):
        path.unlink()
    batch = torch.utils.data.default_collate([ds[i] for i in range(len(ds))])
    assert batch[0].shape == (4, 1, 16, 16) and int(batch[1][1].sum()) > 0


def _fg_dataset() -> SliceDataset:
    # 40 slices, 4 with foreground (10%).
    return SliceDataset([_case("a", (16, 16, 20), (2, 9)), _case("b", (16, 16, 20), (0, 19))], patch_size=16)


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
    ds = SliceDataset([_case("a", (16, 16, 20), (2, 9))], patch_size=16, foreground_fraction=0.5, seed=3)
    assert list(ds.sampler(50)) == list(make_sampler(ds, 0.5, 50, seed=3))
    assert SliceDataset([_case("a")], patch_size=16).sampler() is None


def test_sampler_without_foreground_falls_back_to_uniform() -> None:
    ds = SliceDataset([_case("a", (16, 16, 10), ())], patch_size=16)
    drawn = list(make_sampler(ds, 0.5, 1000, seed=0))
    assert len(set(drawn)) == 10


def test_sampler_rejects_bad_fraction() -> None:
    with pytest.raises(DataError, match="^--foreground-fraction"):
        make_sampler(_fg_dataset(), 1.5, 10, seed=0)


# -- physical spacing ------------------------------------------------------------------------------------------

WIDE = (-1000.0, 1000.0)  # the test images' whole range: windowing is a plain affine map


@pytest.mark.parametrize("target", [0.5, 0.35])
def test_a_non_square_slice_gets_equal_mm_per_pixel_in_x_and_y(target: float) -> None:
    """122x101 voxels at 0.9x0.7 mm: each axis gets round(n*s/target) pixels, so x and y hold the same mm per pixel
    (not a 128 squared squeeze), and the content is scipy's linear / nearest zoom on pixel centres."""
    case = _case("a", shape=(122, 101, 3), fg_slices=(1,), spacing=(0.9, 0.7, 2.0))
    ds = SliceDataset([case], patch_size=64, window=WIDE, spacing=target)
    _, images, labels = next(ds.case_slices())
    shape = (round(122 * 0.9 / target), round(101 * 0.7 / target))
    assert tuple(images.shape) == (3, 1, *shape) and tuple(labels.shape) == (3, *shape)
    mm_x, mm_y = 122 * 0.9 / shape[0], 101 * 0.7 / shape[1]
    assert mm_x == pytest.approx(target, rel=0.01) and mm_y == pytest.approx(target, rel=0.01)
    zoom = (shape[0] / 122, shape[1] / 101)
    expected = ndimage.zoom((case.image[:, :, 1] + 1000) / 2000, zoom, order=1, mode="nearest", grid_mode=True)
    np.testing.assert_allclose(images[1, 0].numpy(), expected, atol=1e-5)
    expected_label = ndimage.zoom(case.label[:, :, 1], zoom, order=0, mode="nearest", grid_mode=True)
    np.testing.assert_array_equal(labels[1].numpy(), expected_label)


def test_shrinking_keeps_the_physical_size_and_the_mean() -> None:
    case = _case("a", shape=(122, 101, 2), fg_slices=(0,), spacing=(0.9, 0.7, 2.0))
    ds = SliceDataset([case], patch_size=32, window=WIDE, spacing=1.6)
    _, images, labels = next(ds.case_slices())
    assert tuple(labels.shape[1:]) == (round(122 * 0.9 / 1.6), round(101 * 0.7 / 1.6)) == (69, 44)
    kidney_mm2 = float((labels[0] > 0).sum()) * (122 * 0.9 / 69) * (101 * 0.7 / 44)
    assert kidney_mm2 == pytest.approx(float((case.label[:, :, 0] > 0).sum()) * 0.9 * 0.7, rel=0.1)
    assert float(images[0].mean()) == pytest.approx(float((case.image[:, :, 0] + 1000).mean() / 2000), abs=0.01)


def test_median_inplane_spacing_pools_x_and_y_of_every_case() -> None:
    assert median_inplane_spacing([(0.7, 0.7, 5.0), (0.9, 0.8, 3.0), (1.5, 1.5, 1.0)]) == pytest.approx(0.85)
    with pytest.raises(DataError, match="^--spacing auto"):
        median_inplane_spacing([])


# -- crops -----------------------------------------------------------------------------------------------------

def _window_offset(crop: np.ndarray, whole: np.ndarray) -> tuple[int, int] | None:
    """Where ``crop`` lies in ``whole`` (an exact sub-window), or None."""
    size = crop.shape[0]
    for a in range(whole.shape[0] - size + 1):
        for b in range(whole.shape[1] - size + 1):
            if np.allclose(whole[a : a + size, b : b + size], crop, rtol=0, atol=1e-6):
                return a, b
    return None


def test_crops_of_a_larger_slice_are_windows_of_it_and_hold_its_foreground() -> None:
    case = _case("a", shape=(70, 60, 4), fg_slices=(2,))  # at 1 mm and --spacing 1 the slice is the volume's
    ds = SliceDataset([case], patch_size=32, window=WIDE, spacing=1.0)
    whole = (case.image[:, :, 2] + 1000) / 2000
    offsets = set()
    for seed in range(12):
        image, label = ds[(2, seed)]
        assert image.shape == (1, 32, 32) and image.dtype == torch.float32
        assert label.shape == (32, 32) and label.dtype == torch.long
        offset = _window_offset(image[0].numpy(), whole.astype(np.float32))
        assert offset is not None, "a crop of a larger slice is a window of it, not padded"
        a, b = offset
        np.testing.assert_array_equal(label.numpy(), case.label[a : a + 32, b : b + 32, 2])
        assert int((label > 0).sum()) > 0, "a foreground slice is cropped around its foreground"
        offsets.add(offset)
    assert len(offsets) > 3, "the crop moves around the object"
    background = [ds[(0, seed)][0] for seed in range(12)]
    starts = {_window_offset(image[0].numpy(), ((case.image[:, :, 0] + 1000) / 2000).astype(np.float32))
              for image in background}
    assert None not in starts and len(starts) > 6, "a background slice is cropped uniformly"


def test_a_smaller_slice_is_padded_with_the_window_low_end_and_background() -> None:
    case = _case("a", shape=(40, 30, 5), fg_slices=(3,))
    ds = SliceDataset([case], patch_size=64, window=WIDE, spacing=1.0)
    for key in [(3, 0), (3, 1), (1, 5)]:
        image, label = ds[key]
        assert image.shape == (1, 64, 64) and label.shape == (64, 64)
        inside = image[0] > 0  # the random image is never exactly the window's low end
        assert int(inside.sum()) == 40 * 30, "the whole slice is in the crop, the rest is padding"
        rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
        a, b = rows[0], cols[0]
        assert (rows[-1] - a, cols[-1] - b) == (39, 29)
        np.testing.assert_allclose(image[0, a : a + 40, b : b + 30].numpy(),
                                   (case.image[:, :, key[0]] + 1000) / 2000, atol=1e-6)
        np.testing.assert_array_equal(label[a : a + 40, b : b + 30].numpy(), case.label[:, :, key[0]])
        assert int(label[~inside].sum()) == 0


def test_crops_are_deterministic_per_item_seed() -> None:
    def build() -> SliceDataset:
        return SliceDataset([_case("a", shape=(90, 80, 4), fg_slices=(1,))], patch_size=32, spacing=1.0)

    first, second = build(), build()
    for key in [(1, 7), (0, 7), (1, 2**62 + 3)]:
        for a, b in zip(first[key], second[key]):
            assert torch.equal(a, b)
    assert not torch.equal(first[(0, 1)][0], first[(0, 2)][0])
    keys = with_item_seeds([3, 1, 1, 0], seed=11)
    assert [k[0] for k in keys] == [3, 1, 1, 0] and keys == with_item_seeds([3, 1, 1, 0], seed=11)
    assert keys[1][1] != keys[2][1], "the same slice twice in an epoch gets two crops"
    assert with_item_seeds([3, 1], seed=11) == keys[:2], "an item's seed depends on its position, not the epoch size"
    assert with_item_seeds([3, 1], seed=12) != keys[:2]


def test_the_augment_hook_gets_the_crop_and_its_seed() -> None:
    ds = SliceDataset([_case("a", shape=(50, 50, 3), fg_slices=(1,))], patch_size=32, spacing=1.0)
    plain_image, plain_label = ds[(1, 5)]
    seen = []

    def mirror(image: np.ndarray, label: np.ndarray, item_seed: int):
        seen.append((image.shape, image.dtype, label.shape, label.dtype, item_seed))
        return image[:, ::-1].copy(), label[::-1].copy()

    ds.augment = mirror
    image, label = ds[(1, 5)]
    assert seen == [((1, 32, 32), np.float32, (32, 32), np.uint8, 5)]
    assert torch.equal(image, plain_image.flip(1)) and torch.equal(label, plain_label.flip(0))
    assert image.dtype == torch.float32 and label.dtype == torch.long
