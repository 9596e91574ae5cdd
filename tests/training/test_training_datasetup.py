"""From a config to checked cases: the cached default phantom (generated once, safe when several processes generate
it at once), the dataset check up front (every case of every split, cached) and the slice size the network takes."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from hqctf_qiskit.config import TrainConfig
from hqctf_qiskit.data import DataError, make_splits, write_phantom_dataset
from hqctf_qiskit.data import check as check_module
from hqctf_qiskit.errors import ConfigError
from hqctf_qiskit.training import datasetup

from helpers import TINY_TRAIN_ARGS, hqctf_here


def test_phantom_is_generated_once_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path))
    calls = []

    def counting_writer(out, cases, seed):
        calls.append(out)
        return write_phantom_dataset(out, cases=cases, seed=seed, shape=(16, 16, 8))

    monkeypatch.setattr(datasetup, "write_phantom_dataset", counting_writer)
    first = datasetup.phantom_dataset(2)
    assert datasetup.phantom_dataset(2) == first and len(calls) == 1
    assert sorted(p.name for p in first.iterdir()) == ["case_00000", "case_00001"]
    assert [p.name for p in tmp_path.iterdir()] == [first.name], "no staging folder left behind"


def test_a_dataset_installed_meanwhile_by_another_process_is_kept(tmp_path, monkeypatch):
    """The loser of the race discards its copy; it never removes the folder the winner's readers are using."""
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path))
    target = tmp_path / f"phantom-v{datasetup.PHANTOM_VERSION}-seed{datasetup.PHANTOM_SEED}-n2"

    def racing_writer(out, cases, seed):
        write_phantom_dataset(out, cases=cases, seed=seed, shape=(16, 16, 8))
        write_phantom_dataset(target, cases=cases, seed=seed, shape=(16, 16, 8))  # the other rank finished first
        (target / "opened-by-the-other-rank").touch()

    monkeypatch.setattr(datasetup, "write_phantom_dataset", racing_writer)
    assert datasetup.phantom_dataset(2) == target
    assert (target / "opened-by-the-other-rank").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "the losing staging folder is removed"


# -- the dataset check up front (issue 11, item 8) and the slice size (item 9) ----------------------------------


def _poison_voxel(image: Path) -> None:
    """One NaN voxel, the rest of the file as it was."""
    img = nib.load(image)
    array = np.asanyarray(img.dataobj).astype(np.float32)
    array[3, 3, 3] = np.nan
    poisoned = nib.Nifti1Image(array, img.affine, img.header)
    poisoned.set_data_dtype(np.float32)
    nib.save(poisoned, image)


def _config(data: Path | str, **options) -> TrainConfig:
    return TrainConfig.from_flat({"data": str(data), **options})


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_train_refuses_a_nan_voxel_in_a_test_split_case_before_writing_anything(tiny_phantom: Path,
                                                                                  tmp_path: Path) -> None:
    """Item 8: train used to report success; only evaluate found the broken test case."""
    data = tmp_path / "data"
    shutil.copytree(tiny_phantom, data)
    seed = TINY_TRAIN_ARGS[TINY_TRAIN_ARGS.index("--seed") + 1]
    test_case = make_splits(sorted(p.name for p in data.iterdir()), seed=int(seed))["test"][0]
    image = data / test_case / "imaging.nii.gz"
    _poison_voxel(image)
    out = tmp_path / "run"
    result = hqctf_here("train", "--data", str(data), "--out", str(out), *TINY_TRAIN_ARGS, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {image}: 1 non-finite voxels (NaN/Inf)"
    assert "Traceback" not in result.stderr
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".")], "no run files"


def test_every_case_is_checked_once_then_from_the_cache(tiny_phantom: Path, private_cache: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    real = check_module.load_case
    monkeypatch.setattr(check_module, "load_case", lambda *a, **k: loads.append(k["case_id"]) or real(*a, **k))
    config = _config(tiny_phantom, patch_size=64)
    assert len(datasetup.discover(config)) == 4
    assert sorted(loads) == ["case_00000", "case_00001", "case_00002", "case_00003"], "all splits, every case"
    datasetup.discover(config)
    assert len(loads) == 4, "a repeated run reads no volume for the check"


def test_the_first_bad_case_is_named_and_the_others_counted(tiny_phantom: Path, tmp_path: Path,
                                                            private_cache: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_phantom, data)
    for case in ("case_00001", "case_00003"):
        _poison_voxel(data / case / "imaging.nii.gz")
    with pytest.raises(DataError) as excinfo:
        datasetup.discover(_config(data, patch_size=64, label_map="1:1,2:1", classes="background,kidney"))
    assert str(excinfo.value) == (
        f"{data / 'case_00001/imaging.nii.gz'}: 1 non-finite voxels (NaN/Inf) (1 more bad case: "
        f"'hqctf check-data {data} --label-map 1:1,2:1 --classes background,kidney' lists them all)")


def test_a_listed_case_without_label_names_the_list_and_line(tiny_phantom: Path, tmp_path: Path,
                                                             private_cache: Path) -> None:
    """Item 9: the message named the image only, and a test-split case without label passed training."""
    listing = tmp_path / "cases.csv"
    rows = [f"{tiny_phantom}/case_0000{i}/imaging.nii.gz,{tiny_phantom}/case_0000{i}/segmentation.nii.gz"
            for i in range(4)]
    rows[1] = rows[1].split(",")[0] + ","
    listing.write_text("image,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=f"^{listing}: line 3: no label$"):
        datasetup.discover(_config(listing, patch_size=64))


def test_thin_slices_warn(tmp_path: Path, private_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Item 9: 64x1 slices trained without a word."""
    for i in range(2):
        folder = tmp_path / "data" / f"case_{i}"
        folder.mkdir(parents=True)
        nib.save(nib.Nifti1Image(np.zeros((64, 1, 6), np.float32), np.eye(4)), folder / "imaging.nii.gz")
        nib.save(nib.Nifti1Image(np.zeros((64, 1, 6), np.uint8), np.eye(4)), folder / "segmentation.nii.gz")
    with caplog.at_level(logging.WARNING):
        datasetup.discover(_config(tmp_path / "data", patch_size=64))
    assert f"{tmp_path / 'data/case_0/imaging.nii.gz'}: axial slices are 64x1 voxels" in caplog.text


@pytest.mark.parametrize(("arch", "size", "message"), [
    ("fpn", 48, "--patch-size: 48 is not a multiple of 32, which fpn with encoder resnet18 needs; use 32 or 64"),
    ("unetplusplus", 7, "--patch-size: 7 is not a multiple of 32, which unetplusplus with encoder resnet18 needs; "
                        "use 32"),
    ("deeplabv3plus", 40, "--patch-size: 40 is not a multiple of 16, which deeplabv3plus with encoder resnet18 "
                          "needs; use 32 or 48"),
])
def test_a_slice_size_the_network_cannot_take_is_refused(arch: str, size: int, message: str) -> None:
    """Item 9: fpn at 48 died in its first forward pass with a traceback ("internal error (a bug)")."""
    with pytest.raises(ConfigError) as excinfo:
        datasetup.check_patch_size(_config("x", arch=arch, patch_size=size))
    assert str(excinfo.value) == message


def test_a_tiny_slice_size_warns_where_the_network_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    """Item 9: unet takes any size, but below its downsampling (32) the deepest features are one pixel."""
    state = torch.random.get_rng_state()
    with caplog.at_level(logging.WARNING):
        datasetup.check_patch_size(_config("x", patch_size=7))
    assert "--patch-size 7 is below 32" in caplog.text
    assert torch.equal(state, torch.random.get_rng_state()), "the run's seeded initialisation is not disturbed"
    caplog.clear()
    for size in (32, 48, 64):
        datasetup.check_patch_size(_config("x", patch_size=size))
    assert caplog.text == ""
