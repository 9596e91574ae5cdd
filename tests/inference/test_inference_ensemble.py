"""``hqctf predict --ensemble``: the argmax of the members' averaged softmax probabilities."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from hqctf_qiskit.data import load_case
from hqctf_qiskit.errors import ConfigError
from hqctf_qiskit.inference.model import EXPORT_META, EXPORT_WEIGHTS, load_export, predict_probabilities
from hqctf_qiskit.inference.predict import predict_one
from hqctf_qiskit.models import build_model

from helpers import hqctf_here

META = {"arch": "unet", "encoder": "resnet18", "in_channels": 1, "classes": ["background", "kidney", "tumor"],
        "window": [-79.0, 304.0], "patch_size": 32}


def _export(folder: Path, seed: int, **meta) -> Path:
    """An export folder (model.json + model.pt) of a randomly initialised network: enough to predict with."""
    folder.mkdir(parents=True)
    meta = {**META, **meta}
    torch.manual_seed(seed)
    model = build_model(meta["arch"], meta["encoder"], in_channels=1, classes=len(meta["classes"]))
    torch.save(model.state_dict(), folder / EXPORT_WEIGHTS)
    (folder / EXPORT_META).write_text(json.dumps(meta))
    return folder


@pytest.fixture
def image(tiny_phantom: Path) -> Path:
    return tiny_phantom / "case_00000" / "imaging.nii.gz"


def _labels(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


def test_ensemble_of_identical_models_equals_the_model(tmp_path: Path, image: Path) -> None:
    one = _export(tmp_path / "a", seed=1)
    twin = shutil.copytree(one, tmp_path / "a_copy")
    predict_one(one, image, tmp_path / "single.nii.gz")
    result = predict_one([one, twin], image, tmp_path / "ensemble.nii.gz")
    assert result["source"].startswith("ensemble of 2")
    np.testing.assert_array_equal(_labels(tmp_path / "ensemble.nii.gz"), _labels(tmp_path / "single.nii.gz"))


def test_ensemble_is_the_argmax_of_averaged_probabilities(tmp_path: Path, image: Path) -> None:
    exports = [_export(tmp_path / "a", seed=1), _export(tmp_path / "b", seed=2, patch_size=64)]
    probabilities_path = tmp_path / "probabilities.nii.gz"
    predict_one(exports, image, tmp_path / "ensemble.nii.gz", probabilities=probabilities_path)

    case = load_case(image, None, case_id="x")  # canonical (RAS) HU volume, as predict reads it
    members = []
    for export in exports:
        model, meta = load_export(export)
        members.append(predict_probabilities(model, case.image, window=tuple(meta["window"]),
                                             patch_size=meta["patch_size"])[1])
    assert not np.array_equal(members[0].argmax(-1), members[1].argmax(-1))  # the models really differ
    mean = (members[0].astype(np.float64) + members[1]) / 2
    written = np.asarray(nib.load(probabilities_path).dataobj)
    labels = _labels(tmp_path / "ensemble.nii.gz")
    assert written.shape == mean.shape and labels.shape == mean.shape[:3]
    np.testing.assert_allclose(written, mean, atol=1e-6)
    tie = np.sort(mean, axis=-1)
    decided = tie[..., -1] - tie[..., -2] > 1e-6  # away from float32 ties
    np.testing.assert_array_equal(labels[decided], mean.argmax(-1)[decided])


def test_members_must_share_classes_and_window(tmp_path: Path, image: Path) -> None:
    one = _export(tmp_path / "a", seed=1)
    other_classes = _export(tmp_path / "b", seed=1, classes=["background", "organ"])
    other_window = _export(tmp_path / "c", seed=1, window=[-100.0, 200.0])
    with pytest.raises(ConfigError, match="^--ensemble: .* has classes"):
        predict_one([one, other_classes], image, tmp_path / "x.nii.gz")
    with pytest.raises(ConfigError, match="^--ensemble: .* has window"):
        predict_one([one, other_window], image, tmp_path / "x.nii.gz")


@pytest.mark.slow
def test_cli_ensemble_and_its_one_line_errors(tmp_path: Path, image: Path) -> None:
    a, b = _export(tmp_path / "a", seed=1), _export(tmp_path / "b", seed=2)
    out = tmp_path / "out.nii.gz"
    result = hqctf_here("predict", "--ensemble", f"{a},{b}", str(image), str(out))
    assert out.is_file() and "model: ensemble of 2" in result.stdout
    for args, message in [
        (["--ensemble", str(a), str(image), str(out)], "error: --ensemble: give at least two"),
        (["--ensemble", f"{a},{a}", str(image), str(out)], "error: --ensemble: a model is listed twice"),
        (["--ensemble", f"{a},{b}", str(a), str(image), str(out)], f"error: {a}: with --ensemble give only INPUT"),
        ([str(a), str(image)], "error: OUT: missing"),
    ]:
        failed = hqctf_here("predict", *args, check=False)
        assert failed.returncode == 2 and failed.stderr.strip().startswith(message), failed.stderr
