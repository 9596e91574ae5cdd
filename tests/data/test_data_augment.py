"""Training augmentation (data/augment.py): MONAI transforms per item, deterministic for a seed, checked YAML files."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
import yaml
from monai.transforms import Rotate

from hqctf_qiskit.data.augment import (
    AUGMENTATION_FILE, lateralised_classes, make_augmenter, run_augmenter, write_augmentation,
)
from hqctf_qiskit.errors import ConfigError

CLASSES = ["background", "kidney", "tumor"]
SIZE = 48


def item(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth image in [0, 1] and a label with three values and no symmetry (a flip or rotation shows)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    image = (0.6 * x + 0.3 * y ** 2 + 0.1 * rng.random((SIZE, SIZE))).astype(np.float32)[None]
    label = np.zeros((SIZE, SIZE), np.uint8)
    label[5:20, 8:30] = 1
    label[25:40, 30:44] = 2
    return image, label


def transform_file(tmp_path, transforms) -> str:
    path = tmp_path / "augment.yaml"
    path.write_text(yaml.safe_dump(transforms, sort_keys=False))
    return str(path)


def test_same_seed_same_output_different_seeds_differ():
    augmenter = make_augmenter("default", CLASSES)
    image, label = item()
    first = augmenter(image, label, 7)
    again = augmenter(image, label, 7)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    original = image.copy(), label.copy()
    outputs = {augmenter(image, label, seed)[0].tobytes() for seed in range(24)}
    assert np.array_equal(image, original[0]) and np.array_equal(label, original[1])  # inputs are not modified
    assert len(outputs) >= 12  # most items get some transform, each drawn from its own seed
    assert image.tobytes() in outputs  # and some none (every probability is below 1)


def test_the_output_depends_on_the_seed_alone_and_draws_no_global_random_numbers():
    augmenter = make_augmenter("default", CLASSES)
    image, label = item()
    expected = [augmenter(image, label, seed)[0] for seed in range(6)]
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    again = [augmenter(image, label, seed)[0] for seed in reversed(range(6))][::-1]  # another order of items
    assert all(np.array_equal(a, b) for a, b in zip(expected, again))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])


def test_strong_spatial_transforms_keep_label_values_and_shapes_and_image_range(tmp_path):
    path = transform_file(tmp_path, [
        {"RandRotated": {"range_x": 0.5, "prob": 1.0}},
        {"RandZoomd": {"min_zoom": 0.7, "max_zoom": 1.4, "prob": 1.0}},
        {"Rand2DElasticd": {"spacing": [12, 12], "magnitude_range": [1, 3], "prob": 1.0}},
        {"RandGaussianNoised": {"std": 0.5, "prob": 1.0}},
    ])
    augmenter = make_augmenter(path, CLASSES)
    image, label = item()
    for seed in range(5):
        out_image, out_label = augmenter(image, label, seed)
        assert out_image.shape == image.shape and out_image.dtype == np.float32
        assert out_label.shape == label.shape and out_label.dtype == np.uint8
        assert set(np.unique(out_label)) <= {0, 1, 2}
        assert out_image.min() >= 0.0 and out_image.max() <= 1.0
        assert (out_image == 1.0).any() and (out_image == 0.0).any()  # the noise was clipped, not rescaled
        assert not np.array_equal(out_label, label)


def test_a_fixed_rotation_equals_monai_rotate_bilinear_image_nearest_label(tmp_path):
    angle = 0.3
    augmenter = make_augmenter(transform_file(tmp_path, [{"RandRotated": {"range_x": [angle, angle],
                                                                          "prob": 1.0}}]), CLASSES)
    image, label = item()
    out_image, out_label = augmenter(image, label, 11)
    expected_image = Rotate(angle, mode="bilinear", padding_mode="border")(torch.from_numpy(image))
    expected_label = Rotate(angle, mode="nearest", padding_mode="border")(torch.from_numpy(label[None]).float())
    np.testing.assert_allclose(out_image, np.clip(expected_image.numpy(), 0, 1), atol=1e-6)
    assert np.array_equal(out_label, expected_label.numpy()[0].astype(np.uint8))


def test_a_left_right_flip_from_a_file_equals_numpy_flip(tmp_path):
    augmenter = make_augmenter(transform_file(tmp_path, [{"RandFlipd": {"spatial_axis": 0, "prob": 1.0}}]), CLASSES)
    image, label = item()
    out_image, out_label = augmenter(image, label, 3)
    assert np.array_equal(out_image, np.flip(image, axis=1))  # [1, x, y]: x runs left-right on the RAS grid
    assert np.array_equal(out_label, np.flip(label, axis=0))


@pytest.mark.parametrize("name, lateral", [
    ("kidney_left", True), ("Kidney_L", True), ("Parotid_R", True), ("LeftLung", True), ("lung l", True),
    ("femur_rt", True), ("kidney", False), ("liver", False), ("spleen", False), ("Lumbar", False),
    ("Bladder", False), ("tumor", False),
])
def test_lateralised_class_names(name, lateral):
    assert lateralised_classes(["background", name]) == ([name] if lateral else [])


def test_lateralised_classes_turn_the_default_flip_off(caplog):
    flips = [step["RandFlipd"] for step in make_augmenter("default", CLASSES).describe() if "RandFlipd" in step]
    assert flips == [{"keys": ["image", "label"], "spatial_axis": 0, "prob": 0.5}]  # left-right only
    with caplog.at_level(logging.INFO, logger="hqctf_qiskit.data.augment"):
        described = make_augmenter("default", ["background", "kidney_left", "kidney_right"]).describe()
    assert not any("RandFlipd" in step for step in described)
    assert "no left-right flip (lateralised classes: kidney_left, kidney_right)" in caplog.text


def test_none_is_no_augmenter():
    assert make_augmenter("none", CLASSES) is None


def test_describe_holds_the_monai_arguments_and_loads_again(tmp_path):
    augmenter = make_augmenter("default", CLASSES)
    described = augmenter.describe()
    rotation = next(step["RandRotated"] for step in described if "RandRotated" in step)
    assert rotation == {"keys": ["image", "label"], "mode": ["bilinear", "nearest"],
                        "range_x": round(math.radians(15), 4), "prob": 0.2, "padding_mode": "zeros"}
    noise = next(step["RandGaussianNoised"] for step in described if "RandGaussianNoised" in step)
    assert noise["keys"] == ["image"]  # intensity transforms never touch the label
    reloaded = make_augmenter(transform_file(tmp_path, described), CLASSES)
    assert reloaded.describe() == described
    image, label = item()
    for seed in range(8):
        assert all(np.array_equal(a, b) for a, b in zip(augmenter(image, label, seed), reloaded(image, label, seed)))

    given = make_augmenter(transform_file(tmp_path, [{"RandGaussianSmoothd": {"sigma_x": [0.4, 0.9], "prob": 0.3}},
                                                     {"RandZoomd": {"min_zoom": 0.9, "mode": "bicubic"}}]), CLASSES)
    assert given.describe() == [
        {"RandGaussianSmoothd": {"keys": ["image"], "sigma_x": [0.4, 0.9], "prob": 0.3}},
        {"RandZoomd": {"keys": ["image", "label"], "min_zoom": 0.9, "mode": ["bicubic", "nearest"]}},
    ]


@pytest.mark.parametrize("content, problem", [
    ("- RandRotate: {prob: 0.2}\n", "RandRotate: not a MONAI random dictionary transform (Rand...d); did you mean "
                                    "RandRotated?"),
    ("- Rotated: {keys: [image]}\n", "Rotated: not a MONAI random dictionary transform (Rand...d)"),
    ("- RandSpatialCropd: {roi_size: [16, 16]}\n", "RandSpatialCropd: only MONAI's spatial and intensity transforms"),
    ("- RandRotated: {rangex: 0.2}\n", "RandRotated: unknown argument 'rangex'; it takes range_x, range_y"),
    ("- RandRotated: {range_x: 0.2, prob: high}\n", "RandRotated: bad argument value ("),
    ("- Rand2DElasticd: {prob: 1}\n", "Rand2DElasticd: needs spacing, magnitude_range"),
    ("- RandRotated: 0.2\n", "RandRotated: arguments must be a mapping"),
    ("- RandRotated: {keys: [image]}\n", "RandRotated: keys are set by hqctf"),
    ("- RandZoomd: {mode: [bilinear, bilinear]}\n", "RandZoomd: mode: give the image's mode"),
    ("- RandZoomd: {keep_size: false, prob: 1, min_zoom: 1.5, max_zoom: 1.5}\n", "RandZoomd: changes the image shape"),
    ("- RandGaussianNoised: {std: [1, 2]}\n", "RandGaussianNoised: bad argument value ("),
    ("RandRotated: {prob: 0.2}\n", "must be a list of transforms"),
    ("- RandRotated\n", "entry 1: must be one 'TransformName: {argument: value}' mapping"),
    ("- [unclosed\n", "not valid YAML"),
])
def test_bad_transform_files_are_one_line_config_errors(tmp_path, content, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        make_augmenter(str(path), CLASSES)
    message = str(raised.value)
    assert message.startswith(f"{path}: {problem}") and "\n" not in message, message


def test_a_file_flip_is_refused_left_right_for_lateralised_classes(tmp_path):
    path = transform_file(tmp_path, [{"RandFlipd": {"spatial_axis": 0, "prob": 0.5}}])
    with pytest.raises(ConfigError, match=r": RandFlipd: flips left-right, but classes kidney_left name a side"):
        make_augmenter(path, ["background", "kidney_left"])
    with pytest.raises(ConfigError, match="is neither 'default', 'none' nor an existing YAML file"):
        make_augmenter(str(tmp_path / "missing.yaml"), CLASSES)


def test_an_item_is_the_same_whatever_torch_threads_the_process_runs(tmp_path):
    """DataLoader workers run torch on one thread, the main process on all cores: items must not differ."""
    augmenter = make_augmenter(transform_file(tmp_path, [
        {"RandScaleIntensityFixedMeand": {"factors": 0.25, "prob": 1.0}},  # a mean over the whole image
        {"RandRotated": {"range_x": 0.3, "prob": 1.0}},
        {"RandGaussianSmoothd": {"prob": 1.0}},
    ]), CLASSES)
    rng = np.random.default_rng(1)
    image, label = rng.random((1, 256, 256), dtype=np.float32), rng.integers(0, 3, (256, 256)).astype(np.uint8)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        several = [augmenter(image, label, seed)[0] for seed in range(3)]
        torch.set_num_threads(1)
        one = [augmenter(image, label, seed)[0] for seed in range(3)]
    finally:
        torch.set_num_threads(threads)
    assert all(np.array_equal(a, b) for a, b in zip(several, one))
    assert torch.get_num_threads() == threads


def test_a_resumed_run_reads_back_its_recorded_transforms(tmp_path):
    spec = transform_file(tmp_path, [{"RandFlipd": {"spatial_axis": 0, "prob": 1.0}}])
    run = tmp_path / "run"
    run.mkdir()
    write_augmentation(make_augmenter(spec, CLASSES), run / AUGMENTATION_FILE)
    (tmp_path / "augment.yaml").unlink()  # the user's file is gone (or changed) by the time the run resumes
    resumed = run_augmenter(spec, CLASSES, run)
    assert resumed.describe() == [{"RandFlipd": {"keys": ["image", "label"], "spatial_axis": 0, "prob": 1.0}}]
    image, label = item()
    assert np.array_equal(resumed(image, label, 0)[1], np.flip(label, axis=0))

    write_augmentation(None, run / AUGMENTATION_FILE)  # a run without augmentation records an empty list
    assert yaml.safe_load((run / AUGMENTATION_FILE).read_text()) == []
    assert run_augmenter("default", CLASSES, run) is None
    assert run_augmenter("none", CLASSES, None) is None
