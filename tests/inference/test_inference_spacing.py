"""Prediction at the run's spacing: slices resampled, MONAI's sliding window where a slice exceeds the patch, logits
back on the native grid; models from before --spacing keep the legacy squeeze."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hqctf_qiskit.data.preprocessing import window_and_scale
from hqctf_qiskit.inference.model import model_preprocessing, predict_probabilities, predict_volume
from hqctf_qiskit.inference.sliding import network_logits

WINDOW = (-100.0, 300.0)


def _pixelwise_model(seed: int = 0) -> nn.Module:
    """1x1 convolutions: each pixel's logits depend on that pixel alone, so tiling a slice into windows (and
    padding it) must give exactly what the whole slice gives."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 1), nn.Tanh(), nn.Conv2d(4, 3, 1)).eval()


@torch.no_grad()
@pytest.mark.parametrize("shape", [(100, 70), (20, 25), (40, 100), (32, 32)])
def test_sliding_window_logits_equal_the_whole_slice(shape):
    model = _pixelwise_model()
    slices = torch.rand(3, 1, *shape, generator=torch.Generator().manual_seed(1))
    logits = network_logits(model, slices, patch_size=32, windows_per_pass=4)
    assert logits.shape == (3, 3, *shape) and logits.dtype == torch.float32
    torch.testing.assert_close(logits, model(slices), rtol=0, atol=1e-5)


@torch.no_grad()
def test_a_context_model_sees_the_slice_through_overlapping_windows():
    """A 3x3 model differs from the whole-slice pass only near window borders (zero padding there): most pixels agree,
    and the Gaussian blend keeps the rest close."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1)).eval()
    slices = torch.rand(1, 1, 90, 90, generator=torch.Generator().manual_seed(2))
    diff = (network_logits(model, slices, patch_size=32) - model(slices)).abs()
    assert float((diff < 1e-5).float().mean()) > 0.8 and float(diff.max()) < 1.0


def test_prediction_at_the_native_spacing_is_the_network_on_the_native_slices():
    """Target spacing = voxel spacing: resampling is the identity, slices (60x44, larger than the 32 patch) go through
    the sliding window; the reference is the pixelwise model applied to the windowed volume directly."""
    model = _pixelwise_model()
    image = np.random.default_rng(0).uniform(-200, 400, size=(60, 44, 5)).astype(np.float32)
    labels, probabilities = predict_probabilities(model, image, window=WINDOW, patch_size=32, spacing=0.8,
                                                  voxel_spacing=(0.8, 0.8, 3.0), batch_size=2)
    slices = torch.from_numpy(np.moveaxis(window_and_scale(image, WINDOW), 2, 0)).unsqueeze(1)
    with torch.no_grad():
        expected = torch.softmax(model(slices), dim=1).permute(2, 3, 0, 1).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_array_equal(labels, expected.argmax(-1))
    flipped = predict_volume(model, image, window=WINDOW, patch_size=32, spacing=0.8, voxel_spacing=(0.8, 0.8),
                             tta="flip")
    np.testing.assert_array_equal(flipped, labels)  # a pixelwise model is flip-equivariant: TTA changes nothing


def test_a_disc_keeps_its_area_in_mm2_whatever_the_input_spacing():
    """One physical disc (radius 30 mm) scanned at 0.7 and at 1.9 mm, predicted at 1.2 mm by a model that thresholds
    intensity: the predicted areas agree, so the logits come back on each input's own grid."""
    model = nn.Conv2d(1, 2, 1).eval()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[[[0.0]]], [[[40.0]]]]))
        model.bias.copy_(torch.tensor([0.0, -20.0]))  # class 1 where the scaled intensity exceeds 0.5
    areas = []
    for step in (0.7, 1.9):
        n = int(round(150 / step))
        centres = (np.arange(n) + 0.5) * step - 75.0
        disc = (centres[:, None] ** 2 + centres[None, :] ** 2 < 30.0**2)
        image = np.where(disc, 300.0, -100.0).astype(np.float32)[:, :, None]
        labels = predict_volume(model, image, window=WINDOW, patch_size=32, spacing=1.2, voxel_spacing=(step, step))
        assert labels.shape == image.shape
        areas.append(float(labels.sum()) * step * step)
    assert areas[0] == pytest.approx(np.pi * 30.0**2, rel=0.03)
    assert areas[1] == pytest.approx(areas[0], rel=0.03)


def test_spacing_needs_the_volume_spacing():
    with pytest.raises(ValueError, match="voxel_spacing"):
        predict_volume(_pixelwise_model(), np.zeros((8, 8, 1), np.float32), window=WINDOW, patch_size=8, spacing=1.0)


def test_metadata_from_before_spacing_means_the_legacy_squeeze():
    old_export = {"classes": ["background", "kidney"], "window": [-79.0, 304.0], "image_size": 96}
    assert model_preprocessing(old_export) == {"window": (-79.0, 304.0), "patch_size": 96, "spacing": None}
    new_export = {**old_export, "patch_size": 64, "spacing": 1.25}
    assert model_preprocessing(new_export) == {"window": (-79.0, 304.0), "patch_size": 64, "spacing": 1.25}
    assert model_preprocessing({**new_export, "spacing": "none"})["spacing"] is None
