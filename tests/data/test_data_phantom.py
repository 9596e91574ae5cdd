"""Synthetic phantom: deterministic, valid KiTS files, and the anatomy contrasts a segmenter relies on."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from hqctf_qiskit.data import CaseVolume, DataError, load_case, make_phantom_case, write_phantom_dataset


@pytest.fixture(scope="module")
def phantom_cases(phantom_dir: Path) -> list[CaseVolume]:
    folders = sorted(phantom_dir.iterdir())
    return [load_case(f / "imaging.nii.gz", f / "segmentation.nii.gz") for f in folders]


def test_layout_dtypes_and_orientation(phantom_dir: Path) -> None:
    folders = sorted(phantom_dir.iterdir())
    assert [f.name for f in folders] == [f"case_{i:05d}" for i in range(12)]
    image = nib.load(folders[0] / "imaging.nii.gz")
    label = nib.load(folders[0] / "segmentation.nii.gz")
    assert image.get_data_dtype() == np.int16 and label.get_data_dtype() == np.uint8
    assert image.shape == (96, 96, 32)
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
    np.testing.assert_array_equal(image.affine, label.affine)


def test_same_seed_identical_other_seed_different(tmp_path: Path) -> None:
    small = (48, 48, 12)
    a = write_phantom_dataset(tmp_path / "a", cases=3, seed=5, shape=small)
    b = write_phantom_dataset(tmp_path / "b", cases=3, seed=5, shape=small)
    for fa, fb in zip(a, b):
        for name in ("imaging.nii.gz", "segmentation.nii.gz"):
            x, y = nib.load(fa / name), nib.load(fb / name)
            np.testing.assert_array_equal(np.asanyarray(x.dataobj), np.asanyarray(y.dataobj))
            np.testing.assert_array_equal(x.affine, y.affine)
    other, _, _ = make_phantom_case(0, seed=6, shape=small)
    same, _, _ = make_phantom_case(0, seed=5, shape=small)
    assert not np.array_equal(other, same)


def test_labels_and_tumor_presence(phantom_cases: list[CaseVolume]) -> None:
    tumor_cases = 0
    for case in phantom_cases:
        values = set(np.unique(case.label).tolist())
        assert values <= {0, 1, 2} and 1 in values, case.case_id
        tumor_cases += 2 in values
    assert 0 < tumor_cases < len(phantom_cases)


def test_kidneys_cover_some_but_not_all_slices(phantom_cases: list[CaseVolume]) -> None:
    for case in phantom_cases:
        covered = (case.label > 0).any(axis=(0, 1)).mean()
        assert 0.3 <= covered <= 0.85, (case.case_id, covered)


def test_spacing_varies_and_is_plausible(phantom_cases: list[CaseVolume]) -> None:
    spacings = {tuple(round(s, 3) for s in case.spacing) for case in phantom_cases}
    assert len({s[2] for s in spacings}) >= 2 and len({s[0] for s in spacings}) >= 2
    for sx, sy, sz in spacings:  # a 326-374 mm field of view over 96 pixels
        assert sx == sy and 3.39 <= sx <= 3.9 and sz in (2.5, 3.0, 5.0)


def test_anatomy_is_drawn_at_the_spacing_of_the_header() -> None:
    """A kidney is some 50-65 mm wide on any grid (its width in pixels times the header's spacing), so resampling to a
    physical spacing sees true sizes: the header's spacing is not a fiction."""
    for n in (48, 96):
        for index in range(3):
            _, label, affine = make_phantom_case(index, seed=0, shape=(n, n, 12))
            half = label[: n // 2] == 1  # one kidney: the half of the body on one side of the spine
            columns = np.flatnonzero(half.any(axis=(1, 2)))
            width_mm = (columns[-1] - columns[0] + 1) * affine[0, 0]
            assert 35.0 <= width_mm <= 80.0, (n, index, width_mm)


def test_hu_contrasts(phantom_cases: list[CaseVolume]) -> None:
    image = np.concatenate([c.image.ravel() for c in phantom_cases])
    label = np.concatenate([c.label.ravel() for c in phantom_cases])
    kidney_hu, tumor_hu = image[label == 1].mean(), image[label == 2].mean()
    assert abs(kidney_hu - tumor_hu) > 15
    assert image.min() >= -1024 and image.max() > 300  # air and bone are present

    # Cortex (the kidney's outer rim) is brighter than the medulla (its core).
    rim, core = [], []
    for case in phantom_cases:
        kidney = case.label == 1
        inner = binary_erosion(kidney, structure=np.ones((3, 3, 1)), iterations=1)
        deep = binary_erosion(kidney, structure=np.ones((3, 3, 1)), iterations=3)
        rim.append(case.image[inner & ~binary_erosion(inner, structure=np.ones((3, 3, 1)))])
        core.append(case.image[deep])
    assert np.concatenate(rim).mean() - np.concatenate(core).mean() > 40


def test_noise_level_is_realistic(phantom_cases: list[CaseVolume]) -> None:
    # Air outside the body is flat -1000 before noise, so its spread is the noise.
    for case in phantom_cases:
        air = case.image[:4, :4, :]
        assert 5 < air.std() < 25, case.case_id


def test_bad_arguments() -> None:
    with pytest.raises(DataError, match="--cases"):
        write_phantom_dataset("/nonexistent-never-created", cases=0)
    with pytest.raises(DataError, match="--shape"):
        write_phantom_dataset("/nonexistent-never-created", shape=(96, 96))
