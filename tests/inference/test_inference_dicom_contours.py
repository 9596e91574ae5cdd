"""Mask → polygons → mask, by both rules readers use; slice order and pixel → patient geometry of the writers."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path as PolygonPath

from hqctf_qiskit.errors import DataError
from hqctf_qiskit.inference.dicom.contours import CONTOUR_LEVEL, mask_to_polygons
from hqctf_qiskit.inference.dicom.geometry import check_series, pixel_to_patient, sort_slices

from inference_dicom_helpers import synthetic_headers


def even_odd(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    centres = np.stack(np.mgrid[:shape[0], :shape[1]], axis=-1).reshape(-1, 2).astype(float)
    inside = np.zeros(len(centres), bool)
    for polygon in polygons:
        inside ^= PolygonPath(polygon).contains_points(centres)
    return inside.reshape(shape)


def round_and_fill(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """What rt-utils does: vertices rounded to pixel indices, OpenCV fillPoly (outline included)."""
    cv2 = pytest.importorskip("cv2")
    image = np.zeros(shape, np.uint8)
    cv2.fillPoly(image, [np.around(p[:, ::-1]).astype(np.int32) for p in polygons], 1)
    return image.astype(bool)


def test_random_masks_come_back_exactly_by_even_odd_and_by_rounding():
    rng = np.random.default_rng(7)
    for trial in range(150):
        shape = (int(rng.integers(1, 30)), int(rng.integers(1, 30)))
        mask = rng.random(shape) < rng.uniform(0.05, 0.8)
        polygons = mask_to_polygons(mask)
        assert np.array_equal(even_odd(polygons, shape), mask), trial
        assert np.array_equal(round_and_fill(polygons, shape), mask), trial


def test_holes_and_islands_are_separate_contours():
    mask = np.zeros((15, 15), bool)
    mask[1:14, 1:14] = True
    mask[4:11, 4:11] = False  # a hole
    mask[6:9, 6:9] = True  # an island in it
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 3
    assert np.array_equal(even_odd(polygons, mask.shape), mask)
    assert all(len(p) >= 4 for p in polygons)


def test_vertices_sit_level_from_a_foreground_centre_and_straight_runs_are_merged():
    mask = np.zeros((6, 9), bool)
    mask[2:4, 1:8] = True
    (polygon,) = mask_to_polygons(mask)
    assert len(polygon) == 8  # a rectangle with its corners cut: no points in the middle of its sides
    distance = 1.0 - CONTOUR_LEVEL
    assert np.isclose(polygon[:, 0].min(), 2 - distance) and np.isclose(polygon[:, 0].max(), 3 + distance)
    assert np.isclose(polygon[:, 1].min(), 1 - distance) and np.isclose(polygon[:, 1].max(), 7 + distance)


def test_single_pixel_and_border_pixels_and_empty_mask():
    mask = np.zeros((3, 3), bool)
    mask[0, 0] = mask[2, 2] = True
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 2 and all(len(p) == 4 for p in polygons)
    assert np.array_equal(even_odd(polygons, mask.shape), mask)
    assert mask_to_polygons(np.zeros((4, 4), bool)) == []
    assert np.array_equal(even_odd(mask_to_polygons(np.ones((3, 4), bool)), (3, 4)), np.ones((3, 4), bool))


def test_pixel_to_patient_follows_the_dicom_formula():
    (ds,) = synthetic_headers(slices=1, spacing=(0.8, 0.7), orientation=(0.8, 0.6, 0, 0, 0, -1))
    points = pixel_to_patient(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]]), ds)
    origin = np.array([-10.0, 20.0, 30.0])
    assert np.allclose(points[0], origin)
    assert np.allclose(points[1], origin + 2 * 0.8 * np.array([0, 0, -1]))  # rows go along the column direction
    assert np.allclose(points[2], origin + 3 * 0.7 * np.array([0.8, 0.6, 0]))  # columns along the row direction


@pytest.mark.parametrize("orientation", [(1, 0, 0, 0, 1, 0), (-1, 0, 0, 0, 1, 0), (1, 0, 0, 0, 0, -1)])
def test_sort_slices_orders_along_the_normal_whatever_the_file_order(orientation):
    ordered = synthetic_headers(slices=5, orientation=orientation)
    shuffled = [ordered[i] for i in (3, 0, 4, 1, 2)]
    assert [d.SOPInstanceUID for d in sort_slices(shuffled)] == [d.SOPInstanceUID for d in ordered]
    check_series(ordered, (20, 24, 5))


def test_not_one_stack_is_refused_in_one_line():
    datasets = synthetic_headers(slices=3)
    datasets[2].ImagePositionPatient = list(datasets[1].ImagePositionPatient)
    with pytest.raises(DataError, match="two slices at the same position"):
        sort_slices(datasets)
    datasets = synthetic_headers(slices=3)
    datasets[1].ImageOrientationPatient = [0, 1, 0, 1, 0, 0]
    with pytest.raises(DataError, match="ImageOrientationPatient differs"):
        sort_slices(datasets)
    with pytest.raises(DataError, match="not sorted"):
        check_series(list(reversed(synthetic_headers(slices=3))), (20, 24, 3))
    with pytest.raises(DataError, match=r"does not match the CT series \(rows, columns, slices\) = \(20, 24, 3\)"):
        check_series(synthetic_headers(slices=3), (24, 20, 3))
    datasets = synthetic_headers(slices=3)
    datasets[1].FrameOfReferenceUID = "1.2.3"
    with pytest.raises(DataError, match="FrameOfReferenceUID differs"):
        check_series(datasets, (20, 24, 3))
