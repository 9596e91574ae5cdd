"""predict, evaluate and export under bad input and faults (issue 11, items 2, 3, 4/5, 7): one line, nothing lost.

Faults are injected deterministically where the bytes are written (nibabel's save, matplotlib's savefig, mkdir), so
the real command runs end to end through the CLI's error boundary; a real read-only mount is used where permitted.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch


from helpers import one_error_line, run_cli
from hqctf_qiskit.io import TEMP_MARK




def temp_leftovers(folder: Path) -> list[Path]:
    return [p for p in Path(folder).rglob("*") if TEMP_MARK in p.name]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture
def run_copy(tmp_path, tiny_run) -> Path:
    """A private copy of the session's tiny run (tests here change run folders)."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


def image_of(tiny_phantom: Path, case: int = 0) -> Path:
    return tiny_phantom / f"case_{case:05d}" / "imaging.nii.gz"


def saved_at(path: Path) -> tuple[int, int]:
    """(epoch, step) a checkpoint was written at."""
    state = torch.load(path, weights_only=True)
    return state["epoch"], state["step"]


def rig_checkpoint(path: Path, label: int) -> None:
    """Make a checkpoint predict ``label`` everywhere: a segmentation head of zeros with one large bias."""
    state = torch.load(path, weights_only=True)
    weight, bias = state["model"]["segmentation_head.0.weight"], state["model"]["segmentation_head.0.bias"]
    weight.zero_()
    bias.zero_()
    bias[label] = 10.0
    path.unlink()  # best/final may be hard links to latest: write a file of its own
    torch.save(state, path)


# -- item 2: predict validates its input as train and evaluate do ---------------------------------------------------
def test_predict_refuses_nan_voxels_and_writes_nothing(capsys, tmp_path, tiny_run, tiny_phantom):
    source = nib.load(image_of(tiny_phantom))
    voxels = np.asarray(source.dataobj).astype(np.float32)
    voxels[3, 4, 5] = np.nan
    bad = tmp_path / "with_nan.nii.gz"
    nib.save(nib.Nifti1Image(voxels, source.affine), bad)
    out = tmp_path / "out" / "labels.nii.gz"
    code, _, err = run_cli(capsys, "predict", tiny_run, bad, out)
    assert one_error_line(code, err) == f"error: {bad}: 1 non-finite voxels (NaN/Inf)"
    assert not out.parent.exists()


# -- item 3: --checkpoint is honoured, checked, and says which file was used ----------------------------------------
@pytest.mark.slow
def test_predict_uses_the_checkpoint_asked_for(capsys, tmp_path, run_copy, tiny_phantom):
    rig_checkpoint(run_copy / "checkpoint_latest.pt", label=2)
    code, out, _ = run_cli(capsys, "predict", run_copy, image_of(tiny_phantom), tmp_path / "latest.nii.gz",
                           "--checkpoint", "latest")
    assert code == 0 and f"checkpoint latest (epoch {saved_at(run_copy / 'checkpoint_latest.pt')[0]})" in out
    assert (np.asarray(nib.load(tmp_path / "latest.nii.gz").dataobj) == 2).all()
    code, out, _ = run_cli(capsys, "predict", run_copy, image_of(tiny_phantom), tmp_path / "best.nii.gz")
    assert code == 0 and f"checkpoint best (epoch {saved_at(run_copy / 'checkpoint_best.pt')[0]})" in out
    assert not (np.asarray(nib.load(tmp_path / "best.nii.gz").dataobj) == 2).all(), "the default is best, not latest"


@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_an_unknown_checkpoint_is_one_line_naming_the_option(capsys, tmp_path, tiny_run, tiny_phantom, command):
    args = {"predict": [image_of(tiny_phantom), tmp_path / "out.nii.gz"], "evaluate": [],
            "export": [tmp_path / "exported"]}[command]
    code, _, err = run_cli(capsys, command, tiny_run, *args, "--checkpoint", "bset")
    assert one_error_line(code, err) == "error: --checkpoint: unknown value 'bset'; choose best, final, latest"
    assert list(tmp_path.iterdir()) == [] and not (tiny_run / "eval").exists()


@pytest.mark.slow
def test_checkpoint_with_an_export_is_refused_not_ignored(capsys, tmp_path, tiny_run, tiny_phantom):
    export = tmp_path / "export"
    epoch = saved_at(tiny_run / "checkpoint_best.pt")[0]
    code, out, _ = run_cli(capsys, "export", tiny_run, export)
    assert code == 0 and f"checkpoint best (epoch {epoch})" in out
    assert json.loads((export / "model.json").read_text())["checkpoint"] == "best"
    out_file = tmp_path / "labels.nii.gz"
    code, _, err = run_cli(capsys, "predict", export, image_of(tiny_phantom), out_file, "--checkpoint", "final")
    line = one_error_line(code, err)
    assert line.startswith("error: --checkpoint: applies to run folders only; export ") and "checkpoint best" in line
    assert not out_file.exists()
    code, out, _ = run_cli(capsys, "predict", export, image_of(tiny_phantom), out_file)
    assert code == 0 and f"model: export {export} (run {tiny_run}, checkpoint best, epoch {epoch})" in out


@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_final_of_an_unfinished_run_is_refused(capsys, tmp_path, run_copy, tiny_phantom, command):
    (run_copy / "checkpoint_final.pt").unlink()  # a run still training (or killed) has no final checkpoint yet
    args = {"predict": [image_of(tiny_phantom), tmp_path / "out.nii.gz"], "evaluate": [],
            "export": [tmp_path / "exported"]}[command]
    code, _, err = run_cli(capsys, command, run_copy, *args, "--checkpoint", "final")
    assert one_error_line(code, err) == (
        f"error: --checkpoint final: {run_copy} has no checkpoint_final.pt yet (the run has not finished: still "
        "training, or stopped); use --checkpoint latest")
    assert not (run_copy / "eval").exists() and not (tmp_path / "out.nii.gz").exists()
    assert not (tmp_path / "exported").exists()


@pytest.mark.slow
def test_best_falls_back_and_says_which_file_was_used(capsys, run_copy):
    (run_copy / "checkpoint_best.pt").unlink()  # e.g. a run whose validation never scored
    epoch, step = saved_at(run_copy / "checkpoint_final.pt")
    code, out, _ = run_cli(capsys, "evaluate", run_copy, "--split", "val")
    assert code == 0 and f"checkpoint best (no checkpoint_best.pt: used final, epoch {epoch})" in out
    summary = json.loads((run_copy / "eval" / "val-best" / "summary.json").read_text())
    assert summary["checkpoint"] == "best"
    assert summary["checkpoint_used"] == {"requested": "best", "used": "final", "epoch": epoch, "step": step,
                                          "file": str(run_copy / "checkpoint_final.pt")}
    (run_copy / "checkpoint_final.pt").unlink()
    code, out, _ = run_cli(capsys, "evaluate", run_copy, "--split", "test")
    assert code == 0 and f"checkpoint best (no checkpoint_best.pt: used latest, epoch {epoch})" in out
    summary = json.loads((run_copy / "eval" / "test-best" / "summary.json").read_text())
    assert summary["checkpoint_used"]["used"] == "latest"


# -- item 7: every evaluation keeps its own folder; replacing one needs --overwrite ---------------------------------
@pytest.mark.slow
def test_evaluations_never_overwrite_each_other(capsys, tmp_path, run_copy):
    splits = json.loads((run_copy / "splits.json").read_text())
    assert run_cli(capsys, "evaluate", run_copy, "--split", "val")[0] == 0
    assert run_cli(capsys, "evaluate", run_copy, "--split", "test")[0] == 0
    val, test = run_copy / "eval" / "val-best", run_copy / "eval" / "test-best"
    assert json.loads((val / "summary.json").read_text())["split"] == "val"
    assert json.loads((test / "summary.json").read_text())["split"] == "test"
    assert sorted(p.name for p in val.glob("overlay_*")) == [f"overlay_{c}.png" for c in sorted(splits["val"])]
    assert sorted(p.name for p in test.glob("overlay_*")) == [f"overlay_{c}.png" for c in sorted(splits["test"])]

    before = snapshot(run_copy / "eval")
    code, _, err = run_cli(capsys, "evaluate", run_copy, "--split", "val")
    assert one_error_line(code, err) == (f"error: {val}: already holds results; pass --overwrite to replace them, "
                                         "or --out DIR for another folder")
    assert snapshot(run_copy / "eval") == before

    (val / "stale.txt").write_text("from an earlier evaluation")
    code, out, _ = run_cli(capsys, "evaluate", run_copy, "--split", "val", "--overwrite")
    assert code == 0 and f"wrote {val}" in out
    assert not (val / "stale.txt").exists() and (val / "summary.json").is_file(), "that folder's contents replaced"
    assert snapshot(test) == {k.removeprefix("test-best/"): v for k, v in before.items() if k.startswith("test-best/")}

    elsewhere = tmp_path / "mine"
    assert run_cli(capsys, "evaluate", run_copy, "--split", "val", "--out", elsewhere)[0] == 0
    assert (elsewhere / "summary.json").is_file() and (elsewhere / "per_case.csv").is_file()
    code, _, err = run_cli(capsys, "evaluate", run_copy, "--split", "val", "--out", elsewhere)
    assert one_error_line(code, err).startswith(f"error: {elsewhere}: already holds results")
    assert temp_leftovers(run_copy) == [] and temp_leftovers(tmp_path) == []


# -- items 4/5: a full disk or a read-only file system is one line naming the file; nothing partial is left ---------
def writes_then_fails(code: int):
    """A writer that gets some bytes out, then hits ``code`` (what a full disk does halfway through a file)."""
    def write(self_or_image, target, *args, **kwargs):
        if hasattr(target, "write"):
            target.write(b"\x89PNG partial")
        else:
            Path(target).write_bytes(b"\x1f\x8b partial")
        raise OSError(code, os.strerror(code))
    return write


@pytest.mark.parametrize("code_name", ["ENOSPC", "EROFS", "EDQUOT"])
def test_predict_on_a_full_or_read_only_disk_leaves_no_partial_file(capsys, tmp_path, tiny_run, tiny_phantom,
                                                                   monkeypatch, code_name):
    number = getattr(errno, code_name)
    monkeypatch.setattr(nib, "save", lambda image, filename: writes_then_fails(number)(image, filename))
    out_dir = tmp_path / "predictions"
    out_dir.mkdir()
    out = out_dir / "labels.nii.gz"
    code, _, err = run_cli(capsys, "predict", tiny_run, image_of(tiny_phantom), out)
    assert one_error_line(code, err) == f"error: {out}: {os.strerror(number)}"
    assert list(out_dir.iterdir()) == [], "no .tmp file, no partial labels.nii.gz"


@pytest.mark.slow
@pytest.mark.parametrize("code_name", ["ENOSPC", "EROFS"])
def test_evaluate_on_a_full_disk_leaves_earlier_results_and_no_partial_folder(capsys, run_copy, monkeypatch,
                                                                              code_name):
    from matplotlib.figure import Figure

    number = getattr(errno, code_name)
    assert run_cli(capsys, "evaluate", run_copy, "--split", "test")[0] == 0
    before = snapshot(run_copy / "eval")
    monkeypatch.setattr(Figure, "savefig", writes_then_fails(number))
    val = run_copy / "eval" / "val-best"
    for overwrite in ([], ["--overwrite"]):
        code, _, err = run_cli(capsys, "evaluate", run_copy, "--split", "val", *overwrite)
        line = one_error_line(code, err)
        assert line.startswith(f"error: {val}/overlay_case_") and line.endswith(f".png: {os.strerror(number)}")
        assert not val.exists(), "no 0-byte PNG, no half evaluation folder"
        assert snapshot(run_copy / "eval") == before, "earlier results untouched"
        assert temp_leftovers(run_copy) == []
    # replacing an evaluation with one that fails halfway keeps the old one
    code, _, err = run_cli(capsys, "evaluate", run_copy, "--split", "test", "--overwrite")
    assert one_error_line(code, err).endswith(f".png: {os.strerror(number)}")
    assert snapshot(run_copy / "eval") == before, "--overwrite replaces only with complete results"
    assert temp_leftovers(run_copy) == []


def test_evaluate_on_a_read_only_run_folder_is_one_line(capsys, run_copy, monkeypatch):
    real_mkdir = os.mkdir

    def read_only_mkdir(path, *args, **kwargs):  # what mkdir does on a read-only file system
        if Path(path).exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        if str(path).startswith(str(run_copy)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", read_only_mkdir)
    before = snapshot(run_copy)
    code, _, err = run_cli(capsys, "evaluate", run_copy, "--split", "val")
    assert one_error_line(code, err) == f"error: {run_copy / 'eval'}: Read-only file system"
    assert snapshot(run_copy) == before


@pytest.fixture
def read_only_mount(tmp_path):
    """A real read-only file system (a read-only bind mount of a folder), where mounting is permitted."""
    source, mount = tmp_path / "source", tmp_path / "mounted"
    source.mkdir()
    mount.mkdir()
    yield source, mount
    subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.slow
def test_evaluate_and_predict_on_a_real_read_only_mount(capsys, read_only_mount, tiny_run, tiny_phantom):
    source, mount = read_only_mount
    shutil.copytree(tiny_run, source / "run")
    bind = subprocess.run(["mount", "--bind", str(source), str(mount)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot mount here: {bind.stderr.decode().strip()}")
    if subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot remount read-only here")
    run = mount / "run"
    before = snapshot(run)
    code, _, err = run_cli(capsys, "evaluate", run, "--split", "val")
    assert one_error_line(code, err) == f"error: {run / 'eval'}: Read-only file system"
    code, _, err = run_cli(capsys, "predict", run, image_of(tiny_phantom), run / "predictions" / "labels.nii.gz")
    assert one_error_line(code, err) == f"error: {run / 'predictions'}: Read-only file system"
    assert snapshot(run) == before


@pytest.fixture
def full_disk(tmp_path):
    """A real file system with one page of space (a 4 KiB tmpfs), where mounting is permitted."""
    mount = tmp_path / "full"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.slow
def test_evaluate_and_predict_on_a_real_full_disk(capsys, full_disk, tiny_run, tiny_phantom):
    out = full_disk / "labels.nii"  # uncompressed: 27 KiB of labels cannot fit
    code, _, err = run_cli(capsys, "predict", tiny_run, image_of(tiny_phantom), out)
    assert one_error_line(code, err) == f"error: {out}: No space left on device"
    results = full_disk / "eval"
    code, _, err = run_cli(capsys, "evaluate", tiny_run, "--split", "val", "--out", results)
    line = one_error_line(code, err)
    assert line.startswith(f"error: {results}/") and line.endswith(": No space left on device")
    assert list(full_disk.iterdir()) == [], "no partial file, no 0-byte PNG, no half results folder"
