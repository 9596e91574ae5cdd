"""Connected-component filtering: per class, N largest 3D components (26-connectivity) and a minimum volume in mm3."""

from __future__ import annotations

import numpy as np
import pytest

from hqctf_qiskit.errors import ConfigError
from hqctf_qiskit.inference.postprocess import (ComponentFilter, filter_components, parse_keep_largest,
                                                voxel_volume_mm3)

CLASSES = ["background", "kidney", "tumor"]


def _two_kidneys() -> np.ndarray:
    """A 3x3x3 kidney (27 voxels) and a 2x2x2 kidney (8), a 2x2x2 tumor (8) and a one-voxel tumor island."""
    labels = np.zeros((20, 12, 10), dtype=np.uint8)
    labels[2:5, 2:5, 2:5] = 1
    labels[12:14, 2:4, 2:4] = 1
    labels[2:4, 8:10, 6:8] = 2
    labels[15, 9, 8] = 2
    return labels


def test_defaults_filter_nothing():
    labels = _two_kidneys()
    assert np.array_equal(filter_components(labels, CLASSES, ComponentFilter(), 1.0), labels)


def test_kidney_2_keeps_both_kidneys_and_kidney_1_drops_the_small_one():
    labels = _two_kidneys()
    both = filter_components(labels, CLASSES, ComponentFilter(parse_keep_largest("kidney:2")), 1.0)
    assert np.array_equal(both, labels)

    one = filter_components(labels, CLASSES, ComponentFilter(parse_keep_largest("kidney:1,tumor:all")), 1.0)
    expected = labels.copy()
    expected[12:14, 2:4, 2:4] = 0  # the small kidney becomes background; both tumor components stay
    assert np.array_equal(one, expected)

    tumor = filter_components(labels, CLASSES, ComponentFilter(parse_keep_largest("tumor:1")), 1.0)
    expected = labels.copy()
    expected[15, 9, 8] = 0
    assert np.array_equal(tumor, expected)


def test_components_are_26_connected():
    labels = np.zeros((6, 6, 6), dtype=np.uint8)
    labels[1, 1, 1] = labels[2, 2, 2] = labels[3, 3, 3] = 1  # a diagonal chain: touching by corners only
    labels[5, 5, 0] = 1  # a separate voxel
    kept = filter_components(labels, CLASSES, ComponentFilter({"kidney": 1}), 1.0)
    expected = labels.copy()
    expected[5, 5, 0] = 0
    assert np.array_equal(kept, expected)


def test_min_volume_is_in_mm3_with_anisotropic_spacing():
    labels = _two_kidneys()
    affine = np.diag([0.5, 0.5, 3.0, 1.0])  # 0.75 mm3 per voxel: kidneys 20.25 and 6 mm3, tumors 6 and 0.75 mm3
    voxel = voxel_volume_mm3(affine)
    assert voxel == pytest.approx(0.75)
    kept = filter_components(labels, CLASSES, ComponentFilter(min_volume_mm3=6.0), voxel)
    expected = labels.copy()
    expected[15, 9, 8] = 0  # 0.75 mm3 < 6; the 8-voxel components are exactly 6 mm3 and stay
    assert np.array_equal(kept, expected)
    kept = filter_components(labels, CLASSES, ComponentFilter(min_volume_mm3=7.0), voxel)
    expected = np.where(labels > 0, 0, labels)
    expected[2:5, 2:5, 2:5] = 1  # only the 20.25 mm3 kidney is ≥ 7 mm3
    assert np.array_equal(kept, expected)
    # isotropic 1 mm: the same threshold keeps every 8-voxel component (8 mm3)
    assert filter_components(labels, CLASSES, ComponentFilter(min_volume_mm3=7.0), 1.0).sum() == labels.sum() - 2


def test_voxel_volume_ignores_orientation_and_permutation():
    affine = np.array([[0, 0, -2.5, 10], [0.8, 0, 0, 0], [0, -0.8, 0, 5], [0, 0, 0, 1]])
    assert voxel_volume_mm3(affine) == pytest.approx(0.8 * 0.8 * 2.5)


def test_keep_largest_parsing_and_one_line_errors():
    assert parse_keep_largest("kidney:2, tumor:all") == {"kidney": 2, "tumor": None}
    assert parse_keep_largest(None) == {}
    for text, problem in [("kidney", "expected CLASS:N"), ("kidney:0", "whole number"), ("kidney:x", "whole number"),
                          ("kidney:1,kidney:2", "given twice")]:
        with pytest.raises(ConfigError, match=f"^--keep-largest: .*{problem}"):
            parse_keep_largest(text)
    with pytest.raises(ConfigError, match="^--keep-largest: unknown class 'liver'; the model's classes are kidney, "
                                          "tumor$"):
        filter_components(_two_kidneys(), CLASSES, ComponentFilter({"liver": 1}), 1.0)
    with pytest.raises(ConfigError, match="unknown class 'background'"):
        ComponentFilter({"background": 1}).check_classes(CLASSES)


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    """A random-weight smp export and a small anisotropic image: enough for the predict path (no training)."""
    import json

    import nibabel as nib
    import torch

    from hqctf_qiskit.models import build_model

    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", in_channels=1, classes=3)
    torch.save(model.state_dict(), folder / "model.pt")
    (folder / "model.json").write_text(json.dumps({"arch": "unet", "encoder": "resnet18", "in_channels": 1,
                                                   "classes": CLASSES, "window": [-79.0, 304.0], "patch_size": 32}))
    image = np.random.default_rng(0).uniform(-100, 300, size=(24, 20, 4)).astype(np.float32)
    path = folder / "image.nii.gz"
    nib.save(nib.Nifti1Image(image, np.diag([0.7, 0.7, 2.5, 1.0])), path)
    return folder, path


def test_predict_applies_tta_and_component_filter(tmp_path, tiny_export):
    import nibabel as nib

    from hqctf_qiskit.inference.predict import predict_one

    export, image = tiny_export
    plain, filtered = tmp_path / "plain.nii.gz", tmp_path / "filtered.nii.gz"
    predict_one(export, image, plain, tta="flip")
    result = predict_one(export, image, filtered, tta="flip", keep_largest="kidney:1,tumor:1", min_volume=5.0)
    raw = np.asarray(nib.load(plain).dataobj)
    expected = filter_components(raw, CLASSES, ComponentFilter({"kidney": 1, "tumor": 1}, 5.0), 0.7 * 0.7 * 2.5)
    assert not np.array_equal(expected, raw)  # this random model's kidney has several components
    assert np.array_equal(np.asarray(nib.load(filtered).dataobj), expected)
    assert result["voxels_per_class"]["kidney"] == int((expected == 1).sum())


def test_cli_unknown_keep_largest_class_is_one_line(tmp_path, tiny_export):
    from helpers import hqctf_here

    export, image = tiny_export
    result = hqctf_here("predict", str(export), str(image), str(tmp_path / "out.nii.gz"), "--keep-largest", "liver:1",
                        check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --keep-largest: unknown class 'liver'; the model's classes are kidney, "
                                     "tumor")
    assert not (tmp_path / "out.nii.gz").exists()
