"""HU windowing and resizing: exact values at the window edges, no invented classes, no half-pixel drift."""

from __future__ import annotations

import numpy as np
import pytest

from hqctf_qiskit.data import DEFAULT_WINDOW, DataError, resize_slice, resize_to, window_and_scale


def test_window_and_scale_maps_window_to_unit_interval() -> None:
    hu = np.array([-1000.0, -79.0, 112.5, 304.0, 3000.0], dtype=np.float64)
    out = window_and_scale(hu, DEFAULT_WINDOW)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-6)
    assert window_and_scale(np.array([0], np.int16), (-100, 100))[0] == pytest.approx(0.5)


@pytest.mark.parametrize("window", [(300.0, -79.0), (10.0, 10.0), (0.0, float("nan")), (1.0,)])
def test_bad_window_names_option(window) -> None:
    with pytest.raises(DataError, match="^--window: "):
        window_and_scale(np.zeros(3), window)


def test_nearest_resize_keeps_dtype_and_never_invents_labels() -> None:
    label = np.zeros((61, 47), dtype=np.uint8)
    label[10:30, 5:20] = 1
    label[40:50, 30:45] = 2
    small = resize_slice(label, 32, order=0)
    assert small.shape == (32, 32) and small.dtype == np.uint8
    assert set(np.unique(small)) == {0, 1, 2}
    big = resize_to(label, (244, 188), order=0)  # exact 4x: every source pixel becomes a 4x4 block
    np.testing.assert_array_equal(big[::4, ::4], label)
    np.testing.assert_array_equal(big[3::4, 3::4], label)


def test_resize_down_and_up_keeps_mask_centred() -> None:
    mask = np.zeros((96, 96), dtype=np.uint8)
    mask[20:44, 50:70] = 1
    back = resize_to(resize_slice(mask, 128, order=0), (96, 96), order=0)
    np.testing.assert_array_equal(back, mask)
    prob = resize_to(resize_slice(mask.astype(np.float32), 48, order=1), (96, 96), order=1)
    centroid = np.argwhere(prob > 0.5).mean(axis=0)
    np.testing.assert_allclose(centroid, [31.5, 59.5], atol=0.5)


def test_bilinear_keeps_constants_and_range_and_carries_leading_axes() -> None:
    stack = np.stack([np.full((50, 70), 0.25), np.random.default_rng(0).random((50, 70))]).astype(np.float32)
    out = resize_to(stack, (128, 128), order=1)
    assert out.shape == (2, 128, 128) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], 0.25, atol=1e-6)
    assert out[1].min() >= -1e-6 and out[1].max() <= 1 + 1e-6
    np.testing.assert_allclose(out[1], resize_slice(stack[1], 128, order=1))


def test_bad_order() -> None:
    with pytest.raises(DataError, match="order must be 0"):
        resize_slice(np.zeros((4, 4)), 8, order=3)
