"""Test helpers for the RTSTRUCT/SEG writers: synthetic CT headers, the shared STS series, independent readers.

Importable from the tests in this folder (pytest puts a test file's folder on sys.path). The readers here do not use
the package: the even-odd rasteriser places contours on slices by geometry and fills pixel centres with matplotlib's
``Path``; the reference masks come through nibabel's affine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from matplotlib.path import Path as PolygonPath
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, generate_uid

from helpers import SHARED_DATA

STS_DIR = SHARED_DATA / "sts-ct-rtstruct"
STS_HFS, STS_FFS = "STS_001", "STS_004"
requires_sts = pytest.mark.skipif(not STS_DIR.is_dir(), reason=f"shared STS data absent ({STS_DIR})")

SECRET_NAME, SECRET_ID, SECRET_BIRTH = "Privacyname", "PID-7Q4X-SECRET", "19450817"
"""Put into the CT headers in memory, so a test can look for them in logs, warnings and files."""

CLASSES = ["background", "tumor", "absent", "ring"]
"""Label 2 never occurs: it must get no ROI/segment, and the ring keeps label 3."""


def synthetic_headers(rows: int = 20, columns: int = 24, slices: int = 6, spacing=(0.8, 0.7), step: float = 2.5,
                      orientation=(0.8, 0.6, 0.0, 0.0, 0.0, -1.0), origin=(-10.0, 20.0, 30.0)) -> list[Dataset]:
    """CT headers (no pixels) of one series, in slice order; an oblique-ish coronal orientation by default."""
    row_direction, column_direction = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    normal = np.cross(row_direction, column_direction)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for k in range(slices):
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "CT", "Doe^Jane", "P1", "", "O"
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "20200101", "1200", \
            "S1", "A1", ""
        ds.Rows, ds.Columns, ds.PixelSpacing, ds.SliceThickness = rows, columns, list(spacing), step
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.ImagePositionPatient = [float(v) for v in np.asarray(origin) + k * step * normal]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.ImageType, ds.InstanceNumber, ds.SeriesNumber = ["ORIGINAL", "PRIMARY", "AXIAL"], k + 1, 1
        datasets.append(ds)
    return datasets


def ring_with_island(shape: tuple[int, int, int], centre=(14, 16), slices=range(1, 5)) -> np.ndarray:
    """A ring (a hole) with an island in the hole, on a few slices: three nested outlines per slice."""
    rows, columns = np.mgrid[:shape[0], :shape[1]]
    radius = np.hypot(rows - centre[0], columns - centre[1])
    ring = ((radius <= 11) & (radius > 6)) | (radius <= 2.5)
    mask = np.zeros(shape, bool)
    for k in slices:
        mask[:, :, k] = ring
    return mask


def labels_for(datasets: list[Dataset], tumour: np.ndarray | None = None) -> np.ndarray:
    """The test label volume on ``datasets``: ``tumour`` (e.g. the reference mask) as 1, the ring as 3, no 2."""
    shape = (int(datasets[0].Rows), int(datasets[0].Columns), len(datasets))
    labels = np.zeros(shape, np.uint8)
    if tumour is not None:
        labels[tumour] = 1
    labels[ring_with_island(shape)] = 3
    return labels


def sts_headers(patient: str) -> list[Dataset]:
    files = sorted((STS_DIR / patient / "CT" / "image").glob("*.dcm"))
    return [pydicom.dcmread(f, stop_before_pixels=True) for f in files]


def sts_reference_on_grid(patient: str, datasets: list[Dataset]) -> np.ndarray:
    """The authors' reference mask as ``[row, column, slice]`` on ``datasets`` (sorted), mapped via its affine."""
    image = nib.load(STS_DIR / patient / "reference_mask.nii.gz")
    data = np.asarray(image.dataobj) > 0
    first = datasets[0]
    orientation = np.asarray(first.ImageOrientationPatient, float)
    row_spacing, column_spacing = (float(v) for v in first.PixelSpacing)
    rows, columns = np.mgrid[:int(first.Rows), :int(first.Columns)]
    out = np.zeros((int(first.Rows), int(first.Columns), len(datasets)), bool)
    to_voxel = np.linalg.inv(image.affine)
    lps_to_ras = np.array([-1.0, -1.0, 1.0])
    for k, ds in enumerate(datasets):
        lps = (np.asarray(ds.ImagePositionPatient, float)[None, None, :]
               + columns[..., None] * column_spacing * orientation[None, None, :3]
               + rows[..., None] * row_spacing * orientation[None, None, 3:])
        voxel = (lps * lps_to_ras) @ to_voxel[:3, :3].T + to_voxel[:3, 3]
        index = np.rint(voxel).astype(int)
        assert np.abs(voxel - index).max() < 1e-2, "the reference mask is not on the CT grid"
        out[:, :, k] = data[index[..., 0], index[..., 1], index[..., 2]]
    return out


def rasterise_even_odd(rtstruct: Dataset, datasets: list[Dataset], roi_number: int) -> np.ndarray:
    """An ROI's contours → ``[row, column, slice]`` mask: slice by geometry, even-odd on pixel centres.

    Also checks that each contour lies in its slice's plane and references that slice's SOP instance.
    """
    first = datasets[0]
    orientation = np.asarray(first.ImageOrientationPatient, float)
    row_direction, column_direction = orientation[:3], orientation[3:]
    normal = np.cross(row_direction, column_direction)
    row_spacing, column_spacing = (float(v) for v in first.PixelSpacing)
    positions = np.array([np.dot(np.asarray(d.ImagePositionPatient, float), normal) for d in datasets])
    shape = (int(first.Rows), int(first.Columns))
    centres = np.stack(np.mgrid[:shape[0], :shape[1]], axis=-1).reshape(-1, 2).astype(float)
    mask = np.zeros((*shape, len(datasets)), bool)
    roi = next(r for r in rtstruct.ROIContourSequence if r.ReferencedROINumber == roi_number)
    for contour in roi.get("ContourSequence", []):
        assert contour.ContourGeometricType == "CLOSED_PLANAR"
        points = np.asarray(contour.ContourData, float).reshape(-1, 3)
        assert len(points) == contour.NumberOfContourPoints
        heights = points @ normal
        k = int(np.argmin(np.abs(positions - heights.mean())))
        assert np.abs(heights - positions[k]).max() < 1e-3, "a contour is not in a slice plane"
        assert contour.ContourImageSequence[0].ReferencedSOPInstanceUID == datasets[k].SOPInstanceUID
        offset = points - np.asarray(datasets[k].ImagePositionPatient, float)
        pixel = np.stack([offset @ column_direction / row_spacing, offset @ row_direction / column_spacing], axis=1)
        inside = PolygonPath(pixel).contains_points(centres).reshape(shape)
        mask[:, :, k] ^= inside
    return mask


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def read_strictly(path: Path) -> Dataset:
    """``dcmread`` with pydicom's reading validation set to RAISE, every element converted (values are lazy)."""
    with pydicom.config.strict_reading():
        dataset = pydicom.dcmread(path)
        for element in dataset.iterall():
            _ = element.value
    return dataset


def dciodvfy_errors(path: Path) -> tuple[list[str], str]:
    """dicom3tools' IOD validator on ``path``: its "Error" lines and its whole output (skips when not installed)."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    return [line for line in output.splitlines() if re.match(r"\s*Error", line)], output
