"""NIfTI loading: RAS reorientation, exact inverse, label handling and one-line errors that name the file."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from hqctf_qiskit.data import (
    DataError,
    from_canonical,
    load_case,
    load_nifti,
    parse_label_map,
    to_canonical,
)

# Stored voxel orders seen in practice: RAS, LPS (DICOM), KiTS19's (slices, H, W) = I/P/L, and a permutation.
KITS19_AFFINE = np.array(
    [[0.0, 0.0, -0.78, 200.0], [0.0, -0.78, 0.0, 150.0], [-5.0, 0.0, 0.0, 40.0], [0.0, 0.0, 0.0, 1.0]]
)
AFFINES = {
    "RAS": np.diag([0.8, 0.9, 3.0, 1.0]),
    "LPS": np.diag([-0.8, -0.9, 3.0, 1.0]),
    "KiTS19": KITS19_AFFINE,
    "ASR": np.array([[0.0, 0.0, 2.0, -5.0], [1.5, 0.0, 0.0, 7.0], [0.0, 3.0, 0.0, 1.0], [0, 0, 0, 1.0]]),
}


def _world(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    return (affine @ np.append(ijk, 1.0))[:3]


@pytest.mark.parametrize("name", sorted(AFFINES))
def test_to_canonical_is_ras_and_keeps_world_positions(name: str) -> None:
    affine = AFFINES[name]
    rng = np.random.default_rng(0)
    data = rng.integers(-1000, 1000, size=(5, 6, 7)).astype(np.int16)
    array, can_affine = to_canonical(nib.Nifti1Image(data, affine))

    assert nib.aff2axcodes(can_affine) == ("R", "A", "S")
    assert array.dtype == np.int16 and array.flags.c_contiguous
    # Every voxel value sits at the same world position before and after reorientation.
    inv = np.linalg.inv(affine)
    for ijk in [(0, 0, 0), (1, 2, 3), tuple(np.array(array.shape) - 1)]:
        src = np.rint((inv @ np.append(_world(can_affine, np.array(ijk)), 1.0))[:3]).astype(int)
        assert array[ijk] == data[tuple(src)]


@pytest.mark.parametrize("name", sorted(AFFINES))
def test_from_canonical_inverts_to_canonical_exactly(name: str) -> None:
    data = np.arange(5 * 6 * 7, dtype=np.uint16).reshape(5, 6, 7)
    img = nib.Nifti1Image(data, AFFINES[name])
    array, _ = to_canonical(img)
    back = from_canonical(array, img)
    assert back.shape == data.shape and back.dtype == data.dtype
    np.testing.assert_array_equal(back, data)
    # Trailing channel axes (e.g. class probabilities) follow the spatial axes.
    stacked = np.stack([array, array + 1], axis=-1)
    np.testing.assert_array_equal(from_canonical(stacked, img)[..., 1], data + 1)


def test_from_canonical_rejects_wrong_grid() -> None:
    img = nib.Nifti1Image(np.zeros((5, 6, 7), np.int16), KITS19_AFFINE)
    with pytest.raises(DataError, match="canonical shape"):
        from_canonical(np.zeros((5, 6, 7)), img)


def test_load_case_kits19_layout_with_uint16_labels(write_nifti) -> None:
    image = np.random.default_rng(1).normal(0, 50, size=(4, 10, 12)).astype(np.int16)  # (slices, H, W)
    label = np.zeros((4, 10, 12), dtype=np.uint16)
    label[1:3, 2:5, 3:6] = 1
    label[2, 3, 4] = 2
    case = load_case(
        write_nifti("case_00007/imaging.nii.gz", image, KITS19_AFFINE),
        write_nifti("case_00007/segmentation.nii.gz", label, KITS19_AFFINE),
    )
    assert case.case_id == "case_00007"  # KiTS images are all called "imaging": the folder names the case
    assert case.image.dtype == np.float32 and case.label.dtype == np.uint8
    assert case.image.shape == (12, 10, 4)  # RAS: W (L->R), H (P->A), slices (I->S)
    assert case.spacing == pytest.approx((0.78, 0.78, 5.0), abs=1e-5)
    assert nib.aff2axcodes(case.affine) == ("R", "A", "S")
    assert np.bincount(case.label.ravel()).tolist() == [480 - 18, 17, 1]
    np.testing.assert_array_equal(from_canonical(case.label, nib.load(case.label_path)), label)


def test_float_label_with_integer_values_is_accepted(write_nifti) -> None:
    label = np.zeros((4, 4, 3), dtype=np.float32)
    label[0, 0, 0] = 2.0
    case = load_case(write_nifti("img.nii.gz", np.zeros((4, 4, 3), np.int16)), write_nifti("lab.nii.gz", label))
    assert case.label[0, 0, 0] == 2 and case.label.sum() == 2 and case.case_id == "img"


def test_label_map_keeps_listed_labels_and_zeroes_the_rest(write_nifti) -> None:
    label = np.array([0, 1, 2, 3, 4, 5, 42, 117, 2, 3], dtype=np.uint8).reshape(10, 1, 1)
    case = load_case(
        write_nifti("ct.nii", np.zeros((10, 1, 1), np.int16)),
        write_nifti("seg.nii", label),
        label_map=parse_label_map("2:1,3:1"),
        num_classes=2,
    )
    assert case.label.ravel().tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 1, 1]


def test_parse_label_map_accepts_whitespace_and_blank() -> None:
    assert parse_label_map(" 2:1 , 3:2") == {2: 1, 3: 2}
    assert parse_label_map(None) is None and parse_label_map("  ") is None


@pytest.mark.parametrize("text", ["2-1", "2:1,3", "a:1", "2:1:3", "2:1,2:0", "-1:1", "2:300", "2:1,"])
def test_malformed_label_map_names_the_option(text: str) -> None:
    with pytest.raises(DataError, match=r"^--label-map: "):
        parse_label_map(text)


# ---- errors: each names the file and the problem, on one line ----


def _error(excinfo: pytest.ExceptionInfo[DataError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_shape_mismatch(write_nifti) -> None:
    img = write_nifti("case_00003/imaging.nii.gz", np.zeros((8, 8, 5), np.int16))
    seg = write_nifti("case_00003/segmentation.nii.gz", np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(DataError) as excinfo:
        load_case(img, seg)
    assert _error(excinfo) == f"{seg}: shape (8, 8, 4) differs from image shape (8, 8, 5)"


def test_affine_mismatch_reports_both(write_nifti) -> None:
    img = write_nifti("img.nii.gz", np.zeros((4, 4, 4), np.int16), np.diag([1.0, 1.0, 3.0, 1.0]))
    seg = write_nifti("seg.nii.gz", np.zeros((4, 4, 4), np.uint8), np.diag([1.0, 1.0, 2.5, 1.0]))
    with pytest.raises(DataError) as excinfo:
        load_case(img, seg)
    message = _error(excinfo)
    assert message.startswith(f"{seg}: affine") and "2.5" in message and "3.0" in message


def test_affine_within_tolerance_is_accepted(write_nifti) -> None:
    shifted = np.eye(4)
    shifted[0, 3] = 5e-4
    img = write_nifti("img.nii.gz", np.zeros((4, 4, 4), np.int16))
    seg = write_nifti("seg.nii.gz", np.zeros((4, 4, 4), np.uint8), shifted)
    assert load_case(img, seg).label is not None


def test_nan_voxels_are_counted(write_nifti) -> None:
    data = np.zeros((4, 4, 4), np.float32)
    data[0, 0, :3] = np.nan
    data[1, 1, 1] = np.inf
    path = write_nifti("bad.nii.gz", data)
    with pytest.raises(DataError) as excinfo:
        load_case(path)
    assert _error(excinfo) == f"{path}: 4 non-finite voxels (NaN/Inf)"


def test_labels_out_of_range_name_file_and_values(write_nifti) -> None:
    label = np.zeros((4, 4, 4), np.uint16)
    label[0, 0, 0], label[1, 1, 1] = 5, 300
    img = write_nifti("img.nii.gz", np.zeros((4, 4, 4), np.int16))
    seg = write_nifti("seg.nii.gz", label)
    with pytest.raises(DataError) as excinfo:
        load_case(img, seg, num_classes=3)
    message = _error(excinfo)
    assert message.startswith(f"{seg}: label values [5, 300] outside [0, 3)")


def test_label_map_target_out_of_range(write_nifti) -> None:
    label = np.full((2, 2, 2), 2, np.uint8)
    img = write_nifti("img.nii.gz", np.zeros((2, 2, 2), np.int16))
    seg = write_nifti("seg.nii.gz", label)
    with pytest.raises(DataError, match=r"label values \[4\] outside \[0, 3\).*after --label-map"):
        load_case(img, seg, label_map={2: 4})


def test_non_integer_float_labels(write_nifti) -> None:
    label = np.zeros((2, 2, 2), np.float32)
    label[0, 0, 0] = 0.5
    img = write_nifti("img.nii.gz", np.zeros((2, 2, 2), np.int16))
    seg = write_nifti("seg.nii.gz", label)
    with pytest.raises(DataError) as excinfo:
        load_case(img, seg)
    assert _error(excinfo).startswith(f"{seg}: non-integer label values")


def test_missing_file(tmp_path) -> None:
    path = tmp_path / "nope.nii.gz"
    with pytest.raises(DataError) as excinfo:
        load_nifti(path)
    assert _error(excinfo) == f"{path}: file not found"


def test_non_nifti_suffix(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(DataError, match="not a NIfTI file") as excinfo:
        load_nifti(path)
    assert str(path) in _error(excinfo)


@pytest.mark.parametrize("content", [b"not a nifti at all", gzip.compress(b"\x00" * 20)])
def test_corrupt_nifti(tmp_path, content: bytes) -> None:
    path = tmp_path / "broken.nii.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="unreadable NIfTI") as excinfo:
        load_nifti(path)
    assert _error(excinfo).startswith(str(path))


def test_truncated_nifti_fails_at_load(write_nifti, tmp_path) -> None:
    good = write_nifti("full.nii", np.arange(4000, dtype=np.int16).reshape(10, 20, 20))
    cut = tmp_path / "cut.nii"
    cut.write_bytes(good.read_bytes()[:-1000])  # header intact, voxel data short
    with pytest.raises(DataError, match="unreadable NIfTI") as excinfo:
        load_nifti(cut)
    assert _error(excinfo).startswith(str(cut))


def test_data_error_is_one_line() -> None:
    assert str(DataError("a\nb")) == "a b"
    assert isinstance(DataError("x"), ValueError)


def _header_with_srow(shape: tuple[int, ...], srow_y: list[float]) -> nib.Nifti1Header:
    """A header whose sform is written as given (nibabel refuses to build such an image from an affine)."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    header["sform_code"], header["qform_code"] = 1, 0
    header["srow_x"], header["srow_y"], header["srow_z"] = [1, 0, 0, 0], srow_y, [0, 0, 1, 0]
    return header


@pytest.mark.parametrize(("srow_y", "problem"), [
    ([0, 0, 0, 0], "degenerate affine: no orientation for voxel axis 1"),
    ([np.nan, 0, 0, 0], "non-finite values in the affine"),
])
def test_a_broken_affine_is_bad_input_not_a_crash(tmp_path, srow_y, problem: str) -> None:
    """Found by the dataset check: nibabel's OrientationError/HeaderDataError escaped as tracebacks."""
    path = tmp_path / "broken_affine.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.float32), None, _header_with_srow((8, 8, 4), srow_y)), path)
    with pytest.raises(DataError) as excinfo:
        load_case(path)
    assert _error(excinfo).startswith(f"{path}: {problem}")
