"""``--tta flip``: the mean softmax over an axial slice and its in-plane mirror images, mirrored back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hqctf_qiskit.data.preprocessing import window_and_scale
from hqctf_qiskit.errors import ConfigError
from hqctf_qiskit.inference.model import predict_probabilities, predict_volume

WINDOW = (-100.0, 300.0)


def _volume(shape=(16, 16, 5), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-200, 400, size=shape).astype(np.float32)


def _conv_model(symmetric: bool, seed: int = 0) -> nn.Module:
    """Two 3x3 convolutions; with kernels symmetric under both in-plane flips (and zero padding) the model is
    flip-equivariant by construction."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 3, 3, padding=1))
    if symmetric:
        with torch.no_grad():
            for conv in (model[0], model[2]):
                w = conv.weight
                conv.weight.copy_((w + w.flip(-1) + w.flip(-2) + w.flip(-1, -2)) / 4)
    return model.eval()


def test_flip_tta_of_a_flip_equivariant_model_equals_no_tta():
    model, image = _conv_model(symmetric=True), _volume()
    plain_labels, plain = predict_probabilities(model, image, window=WINDOW, patch_size=16)
    tta_labels, tta = predict_probabilities(model, image, window=WINDOW, patch_size=16, tta="flip")
    np.testing.assert_allclose(tta, plain, atol=1e-6)
    assert np.array_equal(tta_labels, plain_labels)


def test_flip_tta_is_the_mean_softmax_of_the_mirrored_views():
    model, image = _conv_model(symmetric=False, seed=1), _volume(seed=1)
    # patch_size = the native size: resizing is the identity, so the reference needs only window and scale
    slices = torch.from_numpy(np.moveaxis(window_and_scale(image, WINDOW), 2, 0)[:, None].copy())  # [Z, 1, X, Y]
    with torch.no_grad():
        views = [torch.softmax(model(slices.flip(d)).flip(d) if d else model(slices), dim=1)
                 for d in ((), (2,), (3,), (2, 3))]
    expected = torch.stack(views).mean(0).permute(2, 3, 0, 1).numpy()  # [X, Y, Z, C]

    labels, probabilities = predict_probabilities(model, image, window=WINDOW, patch_size=16, tta="flip")
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert np.array_equal(labels, expected.argmax(-1))
    assert not np.allclose(probabilities, views[0].permute(2, 3, 0, 1).numpy(), atol=1e-3)  # TTA changed something
    volume_labels = predict_volume(model, image, window=WINDOW, patch_size=16, tta="flip", batch_size=2)
    assert (volume_labels == labels).mean() > 0.999  # same mean softmax; only float32 ties may differ


def test_flip_tta_on_a_non_square_resized_slice_is_mirrored_back_onto_the_input_grid():
    """Resized to the model's size and back (20x12 → 8x8 → 20x12): each view must land on the unflipped grid."""
    model, image = _conv_model(symmetric=True, seed=2), _volume((20, 12, 3), seed=2)
    plain_labels, plain = predict_probabilities(model, image, window=WINDOW, patch_size=8)
    tta_labels, tta = predict_probabilities(model, image, window=WINDOW, patch_size=8, tta="flip")
    np.testing.assert_allclose(tta, plain, atol=1e-5)
    assert tta.shape == (20, 12, 3, 3)


def test_unknown_tta_mode_is_one_line():
    with pytest.raises(ConfigError, match="--tta: unknown mode 'rotate'"):
        predict_volume(_conv_model(True), _volume(), window=WINDOW, patch_size=16, tta="rotate")
