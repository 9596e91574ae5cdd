"""DICOM CT series → HU volume + geometry: sorting, rescale, orientation, and one-line refusals of bad stacks.

Synthetic series (a few 4×4 slices written with pydicom in tmp_path) cover each refusal; the shared STS patients
are checked against pydicom read directly (positions, HU) and SimpleITK's series reader (an independent stacker).
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom_synth import slice_values, write_ct_series
from helpers import SHARED_DATA

from hqctf_qiskit.data.dicom import read_ct_series
from hqctf_qiskit.errors import DataError

STS_DIR = SHARED_DATA / "sts-ct-rtstruct"
STS_PATIENTS = [f"STS_{i:03d}" for i in range(1, 13)]
requires_sts = pytest.mark.skipif(not STS_DIR.is_dir(), reason=f"shared STS data absent ({STS_DIR})")


def test_synthetic_series_values_and_geometry(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "ct", n=5, rows=4, columns=3, pixel_spacing=(0.5, 0.75), step=2.5,
                    origin=(-10.0, 5.0, 30.0), slope=2.0, intercept=-1024.0)
    ct = read_ct_series(tmp_path / "ct")
    assert ct.shape == (3, 4, 5)  # [column, row, slice]
    assert ct.hu.dtype == np.float32
    assert ct.spacing == pytest.approx((0.75, 0.5, 2.5))
    for k in range(5):
        np.testing.assert_array_equal(ct.hu[:, :, k], (slice_values(k, 4, 3) * 2.0 - 1024.0).T)
    np.testing.assert_allclose(ct.affine_lps[:3, 3], (-10.0, 5.0, 30.0))
    # NIfTI affine: the same voxels in RAS world coordinates.
    np.testing.assert_allclose(ct.to_nifti_affine()[:3, 3], (10.0, -5.0, 30.0))
    assert [s.position[2] for s in ct.slices] == pytest.approx([30.0, 32.5, 35.0, 37.5, 40.0])


def test_file_order_and_names_do_not_matter(tmp_path: Path) -> None:
    names = [f"{name}" for name in ("zz", "IM0001", "b.dcm", "001", "slice")]  # any names, some without suffix
    write_ct_series(tmp_path / "ct", n=5, names=names, positions=[(0, 0, z) for z in (4.0, 0.0, 8.0, 2.0, 6.0)])
    (tmp_path / "ct" / "README.txt").write_text("not DICOM")
    (tmp_path / "ct" / "notes.nii.gz").write_bytes(b"\x1f\x8b junk")
    ct = read_ct_series(tmp_path / "ct")
    assert [s.path.name for s in ct.slices] == ["IM0001", "001", "zz", "slice", "b.dcm"]  # by position, not name
    assert [s.position[2] for s in ct.slices] == [0.0, 2.0, 4.0, 6.0, 8.0]
    np.testing.assert_array_equal(ct.hu[:, :, 0], (slice_values(1) * 2.0 - 1024.0).T)  # file 1 sits at z=0


def test_feet_first_orientation_stacks_along_the_normal(tmp_path: Path) -> None:
    # A flipped row direction: the slice normal row x col points to -z, so k runs from head to feet.
    write_ct_series(tmp_path / "ct", n=4, orientation=(-1, 0, 0, 0, 1, 0), origin=(0.0, 0.0, 50.0), step=3.0,
                    patient_position="FFS")
    ct = read_ct_series(tmp_path / "ct")
    np.testing.assert_allclose(ct.slice_normal, (0, 0, -1))
    assert [s.position[2] for s in ct.slices] == pytest.approx([50.0, 47.0, 44.0, 41.0])
    for k, ref in enumerate(ct.slices):
        np.testing.assert_allclose(ct.affine_lps @ (0, 0, k, 1), (*ref.position, 1.0), atol=1e-6)


def test_other_series_alongside_and_series_choice(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "p" / "ct", n=3, series_uid="1.2.3.1")
    write_ct_series(tmp_path / "p" / "mr", n=3, modality="MR", series_uid="1.2.3.2")
    assert read_ct_series(tmp_path / "p").series_instance_uid == "1.2.3.1"
    write_ct_series(tmp_path / "p" / "ct2", n=2, series_uid="1.2.3.3")
    with pytest.raises(DataError, match=r"2 CT series, choose one by SeriesInstanceUID: .*1\.2\.3\.1 .*1\.2\.3\.3"):
        read_ct_series(tmp_path / "p")
    assert read_ct_series(tmp_path / "p", series_uid="1.2.3.3").shape[2] == 2
    with pytest.raises(DataError, match=r"series 1\.2\.3\.2 is MR, not CT"):
        read_ct_series(tmp_path / "p", series_uid="1.2.3.2")
    files = sorted((tmp_path / "p" / "ct2").iterdir())
    assert read_ct_series(files).series_instance_uid == "1.2.3.3"  # an explicit file list


def _refusal(tmp_path: Path, **series) -> str:
    write_ct_series(tmp_path / "ct", **series)
    with pytest.raises(DataError) as info:
        read_ct_series(tmp_path / "ct")
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "ct") in message
    return message


def test_refuses_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("hello")
    with pytest.raises(DataError, match=r"empty: no DICOM files found"):
        read_ct_series(tmp_path / "empty")


def test_refuses_non_ct_modality(tmp_path: Path) -> None:
    assert "no CT series (found: " in _refusal(tmp_path, modality="MR")


def test_refuses_missing_slice(tmp_path: Path) -> None:
    positions = [(0, 0, z) for z in (0.0, 2.0, 4.0, 8.0, 10.0)]  # 6.0 missing
    assert "uneven slice spacing" in _refusal(tmp_path, n=5, positions=positions)


def test_refuses_two_slices_at_one_position(tmp_path: Path) -> None:
    assert "two slices at the same position" in _refusal(tmp_path, n=3, positions=[(0, 0, 0), (0, 0, 2), (0, 0, 2)])


def test_refuses_gantry_tilt(tmp_path: Path) -> None:
    tilt = np.deg2rad(15)
    orientation = (1, 0, 0, 0, np.cos(tilt), np.sin(tilt))  # tilted planes, table steps along z: a sheared stack
    message = _refusal(tmp_path, n=4, orientation=orientation, positions=[(0, 0, 2.0 * k) for k in range(4)])
    assert "gantry tilt" in message


def test_oblique_but_straight_stack_is_read(tmp_path: Path) -> None:
    tilt = np.deg2rad(15)
    write_ct_series(tmp_path / "ct", n=4, orientation=(1, 0, 0, 0, np.cos(tilt), np.sin(tilt)))
    ct = read_ct_series(tmp_path / "ct")
    np.testing.assert_allclose(ct.slice_normal, (0, -np.sin(tilt), np.cos(tilt)), atol=1e-5)


def test_refuses_non_orthogonal_orientation(tmp_path: Path) -> None:
    assert "not two orthogonal unit vectors" in _refusal(tmp_path, orientation=(1, 0, 0, 0.3, 0.95, 0))


def test_refuses_inconsistent_orientation(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "ct", n=3, series_uid="1.2.9", frame_uid="1.2.8")
    write_ct_series(tmp_path / "ct", n=1, series_uid="1.2.9", frame_uid="1.2.8", orientation=(0, 1, 0, 0, 0, -1),
                    origin=(0, 0, 90), names=["odd.dcm"])
    with pytest.raises(DataError, match=r"different ImageOrientationPatient"):
        read_ct_series(tmp_path / "ct")


def test_refuses_two_frames_of_reference(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "ct", n=3, series_uid="1.2.9", frame_uid="1.2.8")
    write_ct_series(tmp_path / "ct", n=1, series_uid="1.2.9", frame_uid="1.2.7", origin=(0, 0, 90), names=["x.dcm"])
    with pytest.raises(DataError, match=r"2 frames of reference \(1\.2\.7, 1\.2\.8\)"):
        read_ct_series(tmp_path / "ct")


def test_refuses_mixed_rows(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "ct", n=3, series_uid="1.2.9", frame_uid="1.2.8")
    write_ct_series(tmp_path / "ct", n=1, series_uid="1.2.9", frame_uid="1.2.8", rows=5, origin=(0, 0, 90),
                    names=["x.dcm"])
    with pytest.raises(DataError, match=r"mixed Rows"):
        read_ct_series(tmp_path / "ct")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_refuses_truncated_file_by_name(tmp_path: Path, keep: float) -> None:
    paths = write_ct_series(tmp_path / "ct", n=4)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError, match=r"slice_002\.dcm: .*truncated"):
        read_ct_series(tmp_path / "ct")


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom guessing at the garbage
def test_refuses_garbage_named_dcm(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "ct", n=3)
    (tmp_path / "ct" / "broken.dcm").write_bytes(b"\x00\x01not dicom at all" * 3)
    with pytest.raises(DataError, match=r"broken\.dcm: "):
        read_ct_series(tmp_path / "ct")


# --- the shared STS patients -------------------------------------------------------------------------------------


@requires_sts
@pytest.mark.parametrize("patient", STS_PATIENTS)
def test_sts_geometry_matches_pydicom_and_simpleitk(patient: str) -> None:
    folder = STS_DIR / patient / "CT" / "image"
    ct = read_ct_series(folder)
    by_uid = {ref.sop_instance_uid: k for k, ref in enumerate(ct.slices)}
    files = sorted(folder.glob("*.dcm"))
    assert len(by_uid) == len(files) == ct.shape[2]
    for path in files:  # each slice read directly: its position is the affine's voxel (0, 0, k), its HU slice k
        ds = pydicom.dcmread(path)
        k = by_uid[ds.SOPInstanceUID]
        np.testing.assert_allclose(ct.affine_lps @ (0, 0, k, 1), [*map(float, ds.ImagePositionPatient), 1.0],
                                   atol=1e-3)
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(ct.hu[:, :, k], hu.T)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()  # SimpleITK: LPS too, array [k, j, i]
    np.testing.assert_array_equal(ct.hu, sitk.GetArrayFromImage(image).transpose(2, 1, 0).astype(np.float32))
    direction = np.array(image.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(ct.affine_lps[:3, :3], direction * np.array(image.GetSpacing()), atol=1e-4)
    np.testing.assert_allclose(ct.affine_lps[:3, 3], image.GetOrigin(), atol=1e-3)


@requires_sts
def test_sts_shuffled_renamed_files_give_the_same_volume(tmp_path: Path) -> None:
    source = STS_DIR / "STS_004" / "CT" / "image"  # feet first
    reference = read_ct_series(source)
    files = sorted(source.glob("*.dcm"))
    random.Random(0).shuffle(files)
    target = tmp_path / "renamed"
    target.mkdir()
    for index, path in enumerate(files):  # links, not copies: no patient data is duplicated
        os.symlink(path, target / f"img{(index * 7919) % 1000:04d}")
    shutil.copy(STS_DIR / "README.md", target / "README.md")
    ct = read_ct_series(target)
    np.testing.assert_array_equal(ct.hu, reference.hu)
    np.testing.assert_array_equal(ct.affine_lps, reference.affine_lps)
    assert [s.sop_instance_uid for s in ct.slices] == [s.sop_instance_uid for s in reference.slices]


def test_linked_folder_is_followed(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "store" / "ct", n=3)
    (tmp_path / "patient").mkdir()
    os.symlink(tmp_path / "store" / "ct", tmp_path / "patient" / "CT")
    assert read_ct_series(tmp_path / "patient").shape == (4, 4, 3)
