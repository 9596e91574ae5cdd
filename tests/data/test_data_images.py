"""Image formats: NRRD/MHA/MHD read through SimpleITK with LPS geometry turned into the RAS affine nibabel gives.

The reference is nibabel on a NIfTI file of the same image, written both ways: by nibabel (then read by our
SimpleITK path too) and by SimpleITK (then the other formats must equal nibabel's reading of its NIfTI).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from hqctf_qiskit.data import DataError, load_case, load_nifti, read_image
from hqctf_qiskit.data.images import image_files, image_stem, read_itk_image

# A permuted, flipped, anisotropic grid with an origin away from 0: any mix-up of LPS/RAS or axis order shows.
DIRECTION_LPS = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # columns: voxel axes in LPS
SPACING = (0.7, 1.3, 2.5)
ORIGIN_LPS = (12.5, -40.0, 101.0)


def _volume(shape: tuple[int, int, int] = (7, 5, 4)) -> np.ndarray:
    """Distinct values per voxel, [x, y, z]."""
    return (np.arange(np.prod(shape), dtype=np.int16).reshape(shape) * 3 - 200).astype(np.int16)


def _sitk_image(array_xyz: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(np.transpose(array_xyz))  # numpy [z, y, x] is ITK's (x, y, z)
    image.SetDirection(DIRECTION_LPS.ravel().tolist())
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN_LPS)
    return image


def _expected_affine() -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = DIRECTION_LPS * np.asarray(SPACING)
    affine[:3, 3] = ORIGIN_LPS
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine


def test_nifti_written_by_nibabel_reads_the_same_through_simpleitk(tmp_path: Path) -> None:
    array = _volume()
    path = tmp_path / "by_nibabel.nii.gz"
    nib.save(nib.Nifti1Image(array, _expected_affine()), path)
    reference = load_nifti(path)
    ours = read_itk_image(path)
    np.testing.assert_array_equal(np.asanyarray(ours.dataobj), np.asanyarray(reference.dataobj))
    np.testing.assert_allclose(ours.affine, reference.affine, atol=1e-5)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha", ".mhd", ".nhdr"])
def test_formats_written_by_simpleitk_equal_its_nifti_read_by_nibabel(tmp_path: Path, suffix: str) -> None:
    array = _volume()
    image = _sitk_image(array)
    sitk.WriteImage(image, str(tmp_path / "ref.nii.gz"))
    sitk.WriteImage(image, str(tmp_path / f"img{suffix}"))
    reference = nib.load(tmp_path / "ref.nii.gz")  # nibabel alone: the independent reading
    np.testing.assert_allclose(reference.affine, _expected_affine(), atol=1e-5)
    ours = read_image(tmp_path / f"img{suffix}")
    np.testing.assert_array_equal(np.asanyarray(ours.dataobj), array)
    np.testing.assert_array_equal(np.asanyarray(ours.dataobj), np.asanyarray(reference.dataobj))
    np.testing.assert_allclose(ours.affine, reference.affine, atol=1e-5)


def test_a_case_of_nrrd_files_loads_as_its_nifti_twin(tmp_path: Path) -> None:
    array = _volume((12, 10, 6)).astype(np.float32)
    label = (np.arange(array.size).reshape(array.shape) % 3).astype(np.uint8)
    for name, values in (("ct", array), ("seg", label)):
        sitk.WriteImage(_sitk_image(values), str(tmp_path / f"{name}.nrrd"))
        sitk.WriteImage(_sitk_image(values), str(tmp_path / f"{name}.nii.gz"))
    ours = load_case(tmp_path / "ct.nrrd", tmp_path / "seg.nrrd", num_classes=3)
    twin = load_case(tmp_path / "ct.nii.gz", tmp_path / "seg.nii.gz", num_classes=3)
    assert ours.case_id == "ct"
    np.testing.assert_array_equal(ours.image, twin.image)
    np.testing.assert_array_equal(ours.label, twin.label)
    np.testing.assert_allclose(ours.affine, twin.affine, atol=1e-5)
    assert ours.native_shape == (12, 10, 6)


def test_detached_headers_name_their_data_file(tmp_path: Path) -> None:
    sitk.WriteImage(_sitk_image(_volume()), str(tmp_path / "img.mhd"))
    files = image_files(tmp_path / "img.mhd")
    assert files[0] == tmp_path / "img.mhd" and len(files) == 2 and files[1].is_file()
    assert image_files(tmp_path / "a.nii.gz") == [tmp_path / "a.nii.gz"]
    assert image_stem("liver_0.nii.gz") == "liver_0" and image_stem("x.NRRD") == "x"


def test_refusals_name_the_file(tmp_path: Path) -> None:
    rgb = sitk.Image([4, 4, 3], sitk.sitkVectorUInt8, 3)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.mha"))
    with pytest.raises(DataError, match=r"rgb\.mha: 3 values per voxel"):
        read_image(tmp_path / "rgb.mha")
    four_d = sitk.GetImageFromArray(np.zeros((2, 3, 4, 5), np.int16), isVector=False)  # two volumes
    sitk.WriteImage(four_d, str(tmp_path / "two.nrrd"))
    with pytest.raises(DataError, match=r"two\.nrrd: 4D image .*several volumes"):
        read_image(tmp_path / "two.nrrd")
    flat = sitk.GetImageFromArray(np.zeros((4, 5), np.int16))
    sitk.WriteImage(flat, str(tmp_path / "flat.nrrd"))
    with pytest.raises(DataError, match=r"flat\.nrrd: expected a 3D volume"):
        read_image(tmp_path / "flat.nrrd")
    (tmp_path / "broken.nrrd").write_bytes(b"NRRD0004\ntype: short\n")
    with pytest.raises(DataError, match=r"broken\.nrrd: unreadable image"):
        read_image(tmp_path / "broken.nrrd")
    (tmp_path / "slice.png").write_bytes(b"\x89PNG")
    with pytest.raises(DataError, match=r"slice\.png: unsupported image format"):
        read_image(tmp_path / "slice.png")
    with pytest.raises(DataError, match=r"absent\.mha: file not found"):
        read_image(tmp_path / "absent.mha")
