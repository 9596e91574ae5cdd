"""RTSTRUCT → labels on the CT grid: placed by geometry, even-odd fill (holes), priorities, missing and bad input.

Each synthetic case checks the labels against the contour drawn in world (LPS) coordinates, through the CT
affine, or against matplotlib's point-in-polygon test, not against the rasteriser's own arithmetic.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from dicom_synth import square, write_ct_series, write_rtstruct
from matplotlib.path import Path as PolygonPath

from hqctf_qiskit.data.dicom import even_odd_fill, read_ct_series, rtstruct_labels, structure_map
from hqctf_qiskit.data.dicom.series import CTVolume
from hqctf_qiskit.errors import DataError

CLASSES = ["background", "kidney", "tumor"]
FRAME, SERIES, STUDY = "1.2.826.0.1.3680043.9.1", "1.2.826.0.1.3680043.9.2", "1.2.826.0.1.3680043.9.3"


@pytest.fixture
def ct(tmp_path: Path) -> CTVolume:
    """8×8×4, 1 mm pixels, slices at z = 0, 2, 4, 6 (voxel (i, j, k) centre at x=i, y=j, z=2k)."""
    write_ct_series(tmp_path / "ct", n=4, rows=8, columns=8, pixel_spacing=(1.0, 1.0), step=2.0,
                    origin=(0.0, 0.0, 0.0), frame_uid=FRAME, series_uid=SERIES, study_uid=STUDY)
    return read_ct_series(tmp_path / "ct")


def _rtstruct(tmp_path: Path, rois: dict, frame: str = FRAME, **kwargs) -> Path:
    return write_rtstruct(tmp_path / "rs" / "RS.dcm", frame_uid=frame, series_uid=SERIES, study_uid=STUDY,
                          rois=rois, **kwargs)


def _voxel_centres_lps(ct: CTVolume, mask: np.ndarray) -> np.ndarray:
    index = np.argwhere(mask)
    return (np.c_[index, np.ones(len(index))] @ ct.affine_lps.T)[:, :3]


def test_square_lands_on_its_slice(tmp_path: Path, ct: CTVolume) -> None:
    path = _rtstruct(tmp_path, {"GTV_1": [square(2.0, 1.5, 2.5, 4.5, 5.5)]})
    labels, report = rtstruct_labels(path, ct, structure_map("gtv*:tumor", CLASSES))
    assert labels.dtype == np.uint8 and labels.shape == ct.shape
    centres = _voxel_centres_lps(ct, labels == 2)
    assert len(centres) == 9  # x in {2, 3, 4}, y in {3, 4, 5}
    assert set(centres[:, 2]) == {2.0}
    assert centres[:, 0].min() == 2 and centres[:, 0].max() == 4 and centres[:, 1].min() == 3
    assert report.structures == {"GTV_1": 2} and report.voxels == {"GTV_1": 9}
    assert report.absent_classes == [1] and report.missing == []


def test_inner_contour_is_a_hole(tmp_path: Path, ct: CTVolume) -> None:
    outer, inner = square(4.0, 0.5, 0.5, 6.5, 6.5), square(4.0, 2.5, 2.5, 4.5, 4.5)
    path = _rtstruct(tmp_path, {"Ring": [outer, inner[::-1]]})
    labels, _ = rtstruct_labels(path, ct, structure_map("ring:1", CLASSES))
    ring = labels[:, :, 2] == 1
    assert ring.sum() == 36 - 4
    assert not ring[3:5, 3:5].any() and ring[1, 1] and ring[6, 6]


def test_higher_class_wins_whatever_the_order(tmp_path: Path, ct: CTVolume) -> None:
    kidney, tumor = [square(2.0, 0.5, 0.5, 6.5, 6.5)], [square(2.0, 3.5, 3.5, 7.5, 7.5)]
    for rois in ({"Kidney_L": kidney, "GTV": tumor}, {"GTV": tumor, "Kidney_L": kidney}):
        path = _rtstruct(tmp_path, rois)
        labels, report = rtstruct_labels(path, ct, structure_map("GTV:tumor,Kidney_L:kidney", CLASSES))
        assert (labels[4:7, 4:7, 1] == 2).all()  # the overlap
        assert (labels == 2).sum() == 16 and (labels == 1).sum() == 36 - 9
        assert report.voxels == {"Kidney_L": 36, "GTV": 16} and report.absent_classes == []


def test_contours_placed_by_geometry_not_by_sop_uid(tmp_path: Path, ct: CTVolume) -> None:
    # The contour on z=6 claims slice 0's SOPInstanceUID: geometry wins.
    path = _rtstruct(tmp_path, {"GTV": [square(6.0, 0.5, 0.5, 2.5, 2.5)]},
                     referenced_sop_uids=[ct.slices[0].sop_instance_uid])
    labels, _ = rtstruct_labels(path, ct, structure_map("GTV:tumor", CLASSES))
    assert labels[:, :, 3].sum() == 2 * 4 and labels[:, :, :3].sum() == 0


def test_feet_first_orientation(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "ffs", n=3, rows=6, columns=6, pixel_spacing=(1.0, 1.0), step=2.0,
                    origin=(0.0, 0.0, 10.0), orientation=(-1, 0, 0, 0, 1, 0), frame_uid=FRAME, series_uid=SERIES,
                    study_uid=STUDY, patient_position="FFS")
    ct = read_ct_series(tmp_path / "ffs")
    polygon = square(8.0, -4.5, 0.5, -1.5, 2.5)
    labels, _ = rtstruct_labels(_rtstruct(tmp_path, {"GTV": [polygon]}), ct, structure_map("GTV:2", CLASSES))
    centres = _voxel_centres_lps(ct, labels == 2)
    assert len(centres) == 3 * 2 and set(centres[:, 2]) == {8.0}
    assert PolygonPath(polygon[:, :2]).contains_points(centres[:, :2]).all()


def test_even_odd_fill_matches_matplotlib_on_random_polygons() -> None:
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(40), np.arange(30), indexing="ij"), axis=-1).reshape(-1, 2)
    for _ in range(200):
        polygons = []
        for _ in range(int(rng.integers(1, 4))):  # star-shaped polygons, possibly nested or overlapping
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 30))))
            radius = rng.uniform(2, 14, angles.size)
            centre = rng.uniform(5, 30, 2)
            points = centre + np.c_[radius * np.cos(angles), radius * np.sin(angles)]
            polygons.append(points)  # random floats: no pixel centre lies on an edge
        expected = np.zeros(len(grid), dtype=bool)
        for polygon in polygons:  # even-odd over all polygons: XOR of each polygon's inside
            expected ^= PolygonPath(polygon).contains_points(grid)
        np.testing.assert_array_equal(even_odd_fill(polygons, (40, 30)).reshape(-1), expected)


def test_missing_structure_warns_and_reports(tmp_path: Path, ct: CTVolume,
                                             caplog: pytest.LogCaptureFixture) -> None:
    path = _rtstruct(tmp_path, {"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)], "Body": [square(2.0, 0, 0, 7, 7)]})
    with caplog.at_level(logging.WARNING):
        labels, report = rtstruct_labels(path, ct, structure_map("GTV:tumor,Kidney*:kidney", CLASSES))
    assert report.missing == ["Kidney*:kidney"] and report.absent_classes == [1]
    assert report.not_asked == ["Body"]
    assert any("Kidney*:kidney" in r.getMessage() and "RS.dcm" in r.getMessage() for r in caplog.records)
    assert set(np.unique(labels)) == {0, 2}


def test_refuses_rtstruct_without_any_asked_structure(tmp_path: Path, ct: CTVolume) -> None:
    path = _rtstruct(tmp_path, {"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)], "Body": [square(2.0, 0, 0, 7, 7)]})
    with pytest.raises(DataError, match=r"RS\.dcm: none of the structures asked for \(Kidney\*:kidney\) is in this "
                                        r"RTSTRUCT; it has: Body, GTV$"):
        rtstruct_labels(path, ct, structure_map("Kidney*:kidney", CLASSES))


def test_refuses_other_frame_of_reference(tmp_path: Path, ct: CTVolume) -> None:
    path = _rtstruct(tmp_path, {"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)]}, frame="1.2.3.4.5")
    expected = rf"RS\.dcm: frame of reference 1\.2\.3\.4\.5 is not the CT series' \({FRAME}\)"
    with pytest.raises(DataError, match=expected):
        rtstruct_labels(path, ct, structure_map("GTV:tumor", CLASSES))


def test_off_slice_and_outside_contours_are_skipped_and_reported(tmp_path: Path, ct: CTVolume,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    rois = {"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5), square(3.0, 1.5, 1.5, 3.5, 3.5), square(40.0, 1, 1, 3, 3)]}
    with caplog.at_level(logging.WARNING):
        labels, report = rtstruct_labels(_rtstruct(tmp_path, rois), ct, structure_map("GTV:tumor", CLASSES))
    assert (labels == 2).sum() == 4
    skipped = report.skipped_contours["GTV"]
    assert skipped["outside the CT volume"] == 1
    assert sum(n for why, n in skipped.items() if why.startswith("off the slices")) == 1
    assert any("skipped" in r.getMessage() for r in caplog.records)


def test_refuses_when_no_contour_lies_on_the_series(tmp_path: Path, ct: CTVolume) -> None:
    path = _rtstruct(tmp_path, {"GTV": [square(41.0, 1.5, 1.5, 3.5, 3.5)]})
    with pytest.raises(DataError, match=r"RS\.dcm: the structures asked for \(GTV\) have no contour on the CT series"):
        rtstruct_labels(path, ct, structure_map("GTV:tumor", CLASSES))


def test_refuses_truncated_rtstruct(tmp_path: Path, ct: CTVolume) -> None:
    path = _rtstruct(tmp_path, {"GTV": [square(2.0, 1.5, 1.5, 3.5, 3.5)] * 3})
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match=r"RS\.dcm: .*truncated"):
        rtstruct_labels(path, ct, structure_map("GTV:tumor", CLASSES))


def test_refuses_a_ct_file_given_as_rtstruct(ct: CTVolume) -> None:
    with pytest.raises(DataError, match=r"slice_000\.dcm: not an RTSTRUCT \(modality CT\)"):
        rtstruct_labels(ct.slices[0].path, ct, structure_map("GTV:tumor", CLASSES))
