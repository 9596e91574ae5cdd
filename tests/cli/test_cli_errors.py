"""Bad input: one clear line naming the file or option, a nonzero exit, no traceback, nothing overwritten."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hqctf_qiskit.cli.main import main

from helpers import hqctf


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code not in (0, None)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def copy_dataset(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def rewrite(path: Path, array: np.ndarray, affine: np.ndarray | None = None) -> None:
    ref = nib.load(path)
    nib.save(nib.Nifti1Image(array, ref.affine if affine is None else affine), path)


TRAIN = ["train", "--max-steps", "1", "--patch-size", "32", "--device", "cpu", "--qpg-layers", "none"]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--arch", "vnet"], ["--arch", "vnet"]),
        (["--mapping", "fourier"], ["--mapping", "fourier"]),
        (["--encoder", "resnet999"], ["--encoder", "resnet999"]),
        (["--qpg-layers", "decodr"], ["--qpg-layers", "decodr"]),
        (["--epochs", "abc"], ["--epochs"]),
        (["--window", "300,-50"], ["--window"]),
    ],
)
def test_bad_options(capsys, tmp_path, tiny_phantom, args, fragments):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *TRAIN, "--data", str(tiny_phantom), "--out", str(out), *args)
    assert_one_line_error(code, err, *fragments)
    assert not out.exists() or not any(out.iterdir())


def test_missing_data_folder(capsys, tmp_path):
    code, _, err = run_cli(capsys, *TRAIN, "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "nowhere")


def test_empty_dataset(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, *TRAIN, "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "empty")


@pytest.mark.parametrize("problem", ["shape", "affine", "labels", "nan", "not_nifti"])
def test_bad_case_files(capsys, tmp_path, tiny_phantom, problem):
    data = copy_dataset(tiny_phantom, tmp_path / "data")
    case = data / "case_00001"
    image, label = case / "imaging.nii.gz", case / "segmentation.nii.gz"
    img = nib.load(image)
    if problem == "shape":
        rewrite(label, np.zeros((10, 10, 4), np.uint8))
        target = label
    elif problem == "affine":
        rewrite(label, np.asarray(nib.load(label).dataobj), img.affine @ np.diag([2.0, 1, 1, 1]))
        target = label
    elif problem == "labels":
        lab = np.asarray(nib.load(label).dataobj).copy()
        lab[0, 0, 0] = 7
        rewrite(label, lab)
        target = label
    elif problem == "nan":
        arr = np.asarray(img.dataobj).astype(np.float32)
        arr[1, 1, 1] = np.nan
        rewrite(image, arr)
        target = image
    else:
        image.write_text("this is not a NIfTI file")
        target = image
    code, _, err = run_cli(capsys, *TRAIN, "--data", str(data), "--out", str(tmp_path / "r"),
                           "--val-fraction", "0.25", "--test-fraction", "0.25", "--splits",
                           str(_all_cases_splits(tmp_path)))
    assert_one_line_error(code, err, target.name)
    assert "case_00001" in err


def _all_cases_splits(tmp_path: Path) -> Path:
    path = tmp_path / "splits.json"
    path.write_text('{"train": ["case_00000", "case_00001"], "val": ["case_00002"], "test": ["case_00003"]}')
    return path


def test_empty_split(capsys, tmp_path, tiny_phantom):
    splits = tmp_path / "splits.json"
    splits.write_text('{"train": ["case_00000", "case_00001", "case_00002", "case_00003"], "val": [], "test": []}')
    code, _, err = run_cli(capsys, *TRAIN, "--data", str(tiny_phantom), "--out", str(tmp_path / "r"),
                           "--splits", str(splits))
    assert_one_line_error(code, err, "val split is empty")


def test_existing_run_folder_is_never_overwritten(capsys, tmp_path, tiny_phantom):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint_best.pt").write_bytes(b"precious")
    code, _, err = run_cli(capsys, *TRAIN, "--data", str(tiny_phantom), "--out", str(out))
    assert_one_line_error(code, err, "--out", "not empty")
    assert [p.name for p in out.iterdir()] == ["checkpoint_best.pt"]
    assert (out / "checkpoint_best.pt").read_bytes() == b"precious"


def test_resume_without_checkpoint(capsys, tmp_path):
    (tmp_path / "run").mkdir()
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path / "run"))
    assert_one_line_error(code, err, "--resume", "checkpoint_latest.pt")


def test_evaluate_and_predict_and_export_on_a_folder_that_is_not_a_run(capsys, tmp_path):
    (tmp_path / "junk").mkdir()
    for args in (["evaluate", str(tmp_path / "junk")],
                 ["export", str(tmp_path / "junk"), str(tmp_path / "exp")],
                 ["predict", str(tmp_path / "nope"), str(tmp_path / "in.nii.gz"), str(tmp_path / "out.nii.gz")]):
        code, _, err = run_cli(capsys, *args)
        assert_one_line_error(code, err)


def test_predict_non_nifti_input(capsys, tmp_path, tiny_run):
    bad = tmp_path / "scan.txt"
    bad.write_text("hello")
    code, _, err = run_cli(capsys, "predict", str(tiny_run), str(bad), str(tmp_path / "out.nii.gz"))
    assert_one_line_error(code, err, "scan.txt")


def test_debug_shows_the_traceback(capsys, tmp_path):
    with pytest.raises(Exception):
        main(["--debug", *TRAIN, "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])


# -- the error boundary: what the user can fix is one line (exit 2); anything else is a bug (traceback, exit 1) ------
def test_a_library_error_deep_inside_is_one_line(capsys, tmp_path, monkeypatch):
    from hqctf_qiskit.data import phantom
    from hqctf_qiskit.errors import DataError

    def broken_case(*args, **kwargs):
        raise DataError("case_00000: a problem the user can fix")

    monkeypatch.setattr(phantom, "make_phantom_case", broken_case)
    code, _, err = run_cli(capsys, "phantom", str(tmp_path / "p"), "--cases", "1")
    assert code == 2
    assert_one_line_error(code, err, "case_00000: a problem the user can fix")


def test_a_value_error_deep_inside_is_a_bug_with_its_traceback(capsys, tmp_path, monkeypatch):
    from hqctf_qiskit.data import phantom

    def broken_case(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(phantom, "make_phantom_case", broken_case)
    code, out, err = run_cli(capsys, "phantom", str(tmp_path / "p"), "--cases", "1")
    assert code == 1
    assert "Traceback (most recent call last)" in err and "broken_case" in err
    assert "ValueError: operands could not be broadcast together" in err
    assert err.strip().splitlines()[-1] == "hqctf: internal error (a bug): please report it with the traceback above"
    assert "error: operands" not in err  # not disguised as bad input


@pytest.mark.parametrize("code_name", ["ENOSPC", "EROFS"])
def test_a_full_or_read_only_disk_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch, code_name):
    import errno
    import os

    from hqctf_qiskit.data import phantom

    number = getattr(errno, code_name)

    def failing_save(array, affine, path):
        raise OSError(number, os.strerror(number), str(path))

    monkeypatch.setattr(phantom, "_save", failing_save)
    code, _, err = run_cli(capsys, "phantom", str(tmp_path / "p"), "--cases", "1")
    assert code == 2
    target = tmp_path / "p" / "case_00000" / "imaging.nii.gz"
    assert_one_line_error(code, err, f"error: {target}: {os.strerror(number)}")


def test_ctrl_c_exits_130(capsys, tmp_path, monkeypatch):
    from hqctf_qiskit.data import phantom

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(phantom, "make_phantom_case", interrupted)
    code, _, err = run_cli(capsys, "phantom", str(tmp_path / "p"), "--cases", "1")
    assert code == 130 and err.strip() == "interrupted"


def test_a_usage_error_is_one_line(capsys):
    code, _, err = run_cli(capsys, "train", "--no-such-option")
    assert code == 2
    assert_one_line_error(code, err, "--no-such-option")


def test_debug_prints_the_traceback_of_a_user_error(tmp_path):
    result = hqctf("--debug", "phantom", str(tmp_path / "p"), "--cases", "0", check=False)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "DataError: --cases: need at least 1 case, got 0" in result.stderr
