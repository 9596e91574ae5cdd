"""``hqctf predict`` to NIfTI, RTSTRUCT, DICOM-SEG and probabilities, one case or a folder (issue 12, "Writing").

The model is a plain smp export built here with a fixed seed (random weights): its prediction is not a good
segmentation but a non-trivial one (every class present, blobby shapes), and the tests compare the formats with
each other, not with a ground truth. Real series: one HFS and one FFS STS patient, copied into a temporary folder
with a made-up PatientID and PatientName in every header, so the privacy checks can look for them (skipped without
../shared). Independent readers: the project's RTSTRUCT reader (by geometry), rt-utils (by SOP UID; it sizes its
mask (Columns, Rows) but fills [row, column] (qurit/rt-utils#88), so it is compared on the top-left square) and
highdicom for the SEG.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch

from hqctf_qiskit.models import build_model

from helpers import SHARED_DATA, hqctf, hqctf_here, one_error_line, run_cli

STS_DIR = SHARED_DATA / "sts-ct-rtstruct"
requires_sts = pytest.mark.skipif(not STS_DIR.is_dir(), reason=f"shared STS data absent ({STS_DIR})")
CLASSES = ["background", "tumor", "edge"]
SECRET_ID, SECRET_NAME, SECRET_BIRTH = "PID-7Q4X-SECRET", "Privacyname^Quentin", "19450817"
HFS_FOLDER, FFS_FOLDER = "hfs_case", f"{SECRET_ID}_ffs"  # the second folder's name holds the PatientID




def make_export(folder: Path, seed: int = 1, background_only: bool = False) -> Path:
    """An ``hqctf export`` folder holding a randomly initialised smp U-Net (or one that predicts background only)."""
    torch.manual_seed(seed)
    model = build_model("unet", "resnet18", classes=len(CLASSES))
    if background_only:
        head = model.segmentation_head[0]
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.zeros_(head.bias)
        head.bias.data[0] = 10.0
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "model.pt")
    (folder / "model.json").write_text(json.dumps({"arch": "unet", "encoder": "resnet18", "in_channels": 1,
                                                   "classes": CLASSES, "window": [-160, 240], "patch_size": 64}))
    return folder


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return 1.0 if a.sum() + b.sum() == 0 else float(2 * (a & b).sum() / (a.sum() + b.sum()))


def read_strictly(path: Path) -> pydicom.Dataset:
    with pydicom.config.strict_reading():
        dataset = pydicom.dcmread(path)
        for element in dataset.iterall():
            _ = element.value
    return dataset


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    return make_export(tmp_path_factory.mktemp("export") / "model")


# -- without the shared data: inputs, formats, folders ---------------------------------------------------------------
def test_rtstruct_from_an_image_file_is_one_line_and_writes_nothing(capsys, tmp_path, export, tiny_phantom):
    image = tiny_phantom / "case_00000" / "imaging.nii.gz"
    for args in ([tmp_path / "rs.dcm"], [tmp_path / "seg.dcm", "--format", "seg"]):
        line = one_error_line(*run_cli(capsys, "predict", export, image, *args)[::2])
        assert line.startswith(f"error: {image}: a") and "needs a DICOM CT series folder" in line
    assert list(tmp_path.iterdir()) == []


def test_format_and_suffix_must_agree_and_a_folder_without_dicom_is_refused(capsys, tmp_path, export, tiny_phantom):
    image = tiny_phantom / "case_00000" / "imaging.nii.gz"
    line = one_error_line(*run_cli(capsys, "predict", export, image, tmp_path / "x.nii.gz", "--format", "seg")[::2])
    assert line == f"error: {tmp_path / 'x.nii.gz'}: --format seg writes a .dcm file"
    line = one_error_line(*run_cli(capsys, "predict", export, image, tmp_path / "x.dcm", "--format", "nifti")[::2])
    assert line == f"error: {tmp_path / 'x.dcm'}: --format nifti writes a .nii or .nii.gz file"
    line = one_error_line(*run_cli(capsys, "predict", export, image, tmp_path / "out")[::2])
    assert "output must be a .nii, .nii.gz or .dcm file" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no DICOM here")
    line = one_error_line(*run_cli(capsys, "predict", export, empty, tmp_path / "rs.dcm")[::2])
    assert line.startswith(f"error: {empty}: a folder without DICOM files")
    line = one_error_line(*run_cli(capsys, "predict", export, image, tmp_path / "p.nii.gz",
                                   "--probabilities", tmp_path / "p.npy")[::2])
    assert "--probabilities must be a .nii or .nii.gz file" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


@pytest.mark.slow
def test_a_folder_of_images_equals_one_case_at_a_time(capsys, tmp_path, export, tiny_phantom):
    out_dir = tmp_path / "predictions"
    code, out, err = run_cli(capsys, "predict", export, tiny_phantom, out_dir, "--probabilities", tmp_path / "probs")
    assert code == 0, err
    cases = sorted(p.name for p in tiny_phantom.iterdir() if p.is_dir())
    assert sorted(p.name for p in out_dir.iterdir()) == [f"{c}.nii.gz" for c in cases]
    assert sorted(p.name for p in (tmp_path / "probs").iterdir()) == [f"{c}.nii.gz" for c in cases]
    single = tmp_path / "single.nii.gz"
    assert run_cli(capsys, "predict", export, tiny_phantom / cases[1] / "imaging.nii.gz", single)[0] == 0
    assert np.array_equal(np.asarray(nib.load(single).dataobj), np.asarray(nib.load(out_dir / f"{cases[1]}.nii.gz")
                                                                           .dataobj))
    # existing outputs are refused before any work, all of them named by the first and a count
    before = {p: p.stat().st_mtime_ns for p in out_dir.iterdir()}
    line = one_error_line(*run_cli(capsys, "predict", export, tiny_phantom, out_dir)[::2])
    assert line == (f"error: {out_dir / (cases[0] + '.nii.gz')} and {len(cases) - 1} more: already exist (pass "
                    "--overwrite to replace them)")
    assert {p: p.stat().st_mtime_ns for p in out_dir.iterdir()} == before
    # an RTSTRUCT of an image file cannot be made: each case says so in one line, nothing is written, exit 2
    code, out, err = run_cli(capsys, "predict", export, tiny_phantom, tmp_path / "rt", "--format", "rtstruct")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == len(cases) + 1 and all("needs a DICOM CT series folder" in x for x in lines[:-1])
    assert lines[-1] == f"error: {tiny_phantom}: {len(cases)} of {len(cases)} cases failed (lines above); 0 written " \
                        f"to {tmp_path / 'rt'}"
    assert not (tmp_path / "rt").exists()


# -- real HFS and FFS series -----------------------------------------------------------------------------------------
def copy_with_secret_patient(source: Path, target: Path) -> None:
    """Copy a patient's DICOM files, the patient module replaced by made-up values the tests look for."""
    for path in sorted(source.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.PatientID, ds.PatientName, ds.PatientBirthDate = SECRET_ID, SECRET_NAME, SECRET_BIRTH
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(out)


@pytest.fixture(scope="module")
def patients(tmp_path_factory) -> Path:
    """A folder of two patient folders (CT/image + CT/mask/RS.dcm): STS_001 (HFS) and STS_004 (FFS)."""
    root = tmp_path_factory.mktemp("dicom") / "patients"
    copy_with_secret_patient(STS_DIR / "STS_001", root / HFS_FOLDER)
    copy_with_secret_patient(STS_DIR / "STS_004", root / FFS_FOLDER)
    return root


@pytest.fixture(scope="module")
def predicted(tmp_path_factory, patients, export) -> dict:
    """The command line on the patient folder: NIfTI + probabilities in a fresh interpreter (what a user runs),
    RTSTRUCT and SEG in this one (their output captured alike, for the privacy check)."""
    out = tmp_path_factory.mktemp("predicted")
    runs = {"nifti": hqctf("predict", str(export), str(patients), str(out / "nifti"),
                           "--probabilities", str(out / "probabilities"))}
    for name in ("rtstruct", "seg"):
        runs[name] = hqctf_here("predict", export, patients, out / name, "--format", name)
    return {"out": out, "runs": runs}


def case_names(out: Path) -> dict[str, str]:
    """Folder name → case name, read from the NIfTI outputs: the folder holding the PatientID is hashed."""
    names = sorted(p.name[: -len(".nii.gz")] for p in (out / "nifti").iterdir())
    assert HFS_FOLDER in names and len(names) == 2
    (hashed,) = [n for n in names if n != HFS_FOLDER]
    assert hashed.startswith("case-") and SECRET_ID not in hashed
    return {HFS_FOLDER: HFS_FOLDER, FFS_FOLDER: hashed}


@requires_sts
@pytest.mark.slow
@pytest.mark.parametrize("folder", [HFS_FOLDER, FFS_FOLDER])
def test_rtstruct_reads_back_as_the_nifti_prediction(predicted, patients, folder):
    from hqctf_qiskit.data.dicom import read_ct_series, rtstruct_labels, structure_map

    rt_utils = pytest.importorskip("rt_utils")
    out, case = predicted["out"], case_names(predicted["out"])[folder]
    ct = read_ct_series(patients / folder / "CT" / "image")
    assert ct.header.PatientPosition == ("HFS" if folder == HFS_FOLDER else "FFS")
    nifti = nib.load(out / "nifti" / f"{case}.nii.gz")
    assert np.allclose(nifti.affine, ct.to_nifti_affine(), atol=1e-4), "labels on the series' own grid"
    labels = np.asarray(nifti.dataobj)
    assert labels.shape == ct.shape and labels.dtype == np.uint8
    shares = np.bincount(labels.ravel(), minlength=3) / labels.size
    assert (shares > 0.01).all(), f"the test model should predict every class somewhere: {shares}"

    rtstruct_path = out / "rtstruct" / f"{case}.dcm"
    rtstruct = read_strictly(rtstruct_path)
    assert [r.ROIName for r in rtstruct.StructureSetROISequence] == ["tumor", "edge"]
    assert len({tuple(r.ROIDisplayColor) for r in rtstruct.ROIContourSequence}) == 2
    assert rtstruct.FrameOfReferenceUID == ct.frame_of_reference_uid
    series = rtstruct.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == ct.series_instance_uid
    assert [i.ReferencedSOPInstanceUID for i in series.ContourImageSequence] == [s.sop_instance_uid for s in ct.slices]

    by_project, _ = rtstruct_labels(rtstruct_path, ct, structure_map("tumor:tumor,edge:edge", CLASSES))
    loaded = rt_utils.RTStructBuilder.create_from(dicom_series_path=str(patients / folder / "CT" / "image"),
                                                  rt_struct_path=str(rtstruct_path))
    side = min(ct.shape[:2])
    rows_columns = labels.transpose(1, 0, 2)  # rt-utils: [row, column, slice]
    for index, name in enumerate(CLASSES[1:], start=1):
        assert dice(by_project == index, labels == index) >= 0.99, name
        by_rt_utils = loaded.get_roi_mask_by_name(name)
        assert by_rt_utils.shape[2] == ct.shape[2]
        assert dice(by_rt_utils[:side, :side], rows_columns[:side, :side] == index) >= 0.99, name


@requires_sts
@pytest.mark.slow
@pytest.mark.parametrize("folder", [HFS_FOLDER, FFS_FOLDER])
def test_seg_reads_back_equal_and_probabilities_match_the_labels(predicted, patients, folder):
    import highdicom as hd

    from hqctf_qiskit.data.dicom import read_ct_series

    out, case = predicted["out"], case_names(predicted["out"])[folder]
    ct = read_ct_series(patients / folder / "CT" / "image")
    nifti = nib.load(out / "nifti" / f"{case}.nii.gz")
    labels = np.asarray(nifti.dataobj)
    seg_path = out / "seg" / f"{case}.dcm"
    read_strictly(seg_path)
    seg = hd.seg.segread(seg_path)
    numbers = seg.get_segment_numbers()
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=[s.sop_instance_uid for s in ct.slices],
                                               segment_numbers=numbers, combine_segments=False)
    masks = {seg.get_segment_description(n).SegmentLabel: pixels[..., i].transpose(2, 1, 0).astype(bool)
             for i, n in enumerate(numbers)}  # [slice, row, column] -> [column, row, slice]: the CT volume's order
    assert list(masks) == CLASSES[1:]
    for index, name in enumerate(CLASSES[1:], start=1):
        assert np.array_equal(masks[name], labels == index), name

    probabilities = nib.load(out / "probabilities" / f"{case}.nii.gz")
    values = np.asarray(probabilities.dataobj)
    assert values.shape == (*ct.shape, len(CLASSES)) and values.dtype == np.float32
    assert np.allclose(probabilities.affine, nifti.affine)
    assert np.abs(values.sum(axis=-1) - 1).max() < 1e-5
    assert np.array_equal(values.argmax(axis=-1), labels)


@requires_sts
@pytest.mark.slow
def test_only_the_dicom_outputs_hold_the_patient(predicted):
    out = predicted["out"]
    said = "".join(r.stdout + r.stderr for r in predicted["runs"].values())
    wrote = [line for r in predicted["runs"].values() for line in r.stdout.splitlines()
             if line.startswith("wrote ") and ": background " in line]  # the summaries, not the writers' log lines
    assert len(wrote) == 6, wrote
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == 8
    for path in files:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data += gzip.decompress(data)
        if path.suffix == ".dcm":
            ds = pydicom.dcmread(path)
            assert (ds.PatientID, str(ds.PatientName), ds.PatientBirthDate) == (SECRET_ID, SECRET_NAME, SECRET_BIRTH)
        else:
            for secret in (SECRET_ID, SECRET_NAME.split("^")[0], SECRET_BIRTH):
                assert secret.encode() not in data, path
        assert SECRET_ID not in str(path)
    for secret in (SECRET_ID, SECRET_NAME.split("^")[0], SECRET_BIRTH):
        assert secret not in said


@requires_sts
@pytest.mark.slow
def test_one_ffs_case_to_rtstruct_and_a_prediction_without_foreground(capsys, tmp_path, patients, export):
    series = patients / FFS_FOLDER  # a patient folder: the CT series is found below it, the RTSTRUCT beside it ignored
    code, out, err = run_cli(capsys, "predict", export, series, tmp_path / "rs.dcm",
                             "--probabilities", tmp_path / "p.nii.gz")
    assert code == 0, err
    assert f"wrote {tmp_path / 'rs.dcm'}" in out and f"wrote {tmp_path / 'p.nii.gz'}" in out
    assert read_strictly(tmp_path / "rs.dcm").Modality == "RTSTRUCT"
    line = one_error_line(*run_cli(capsys, "predict", export, series, tmp_path / "rs.dcm")[::2])
    assert "already exists" in line

    empty = make_export(tmp_path / "background_only", background_only=True)
    for fmt in ("rtstruct", "seg"):
        line = one_error_line(*run_cli(capsys, "predict", empty, series, tmp_path / f"none_{fmt}.dcm",
                                       "--format", fmt, "--probabilities", tmp_path / f"none_{fmt}.nii.gz")[::2])
        assert line.startswith(f"error: {series}: the prediction has no foreground (every voxel is background)")
        assert not (tmp_path / f"none_{fmt}.dcm").exists() and not (tmp_path / f"none_{fmt}.nii.gz").exists()
    # in a folder, such a case is one line and the others go on: here both fail, and the command says so
    code, out, err = run_cli(capsys, "predict", empty, patients, tmp_path / "folder", "--format", "rtstruct")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 3 and all("has no foreground" in x for x in lines[:2])
    assert not (tmp_path / "folder").exists()
