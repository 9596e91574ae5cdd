import math

import pytest
import torch

from hqctf_qiskit.qpg.mappings import MAPPINGS, ChunkedMapping, basis_bits, mapping_class


def random_probs(channels: int, num_qubits: int, seed: int = 0) -> torch.Tensor:
    logits = torch.randn(channels, 2**num_qubits, generator=torch.Generator().manual_seed(seed))
    return torch.softmax(logits, dim=1)


@pytest.mark.parametrize("name", sorted(MAPPINGS))
def test_calibration_gives_the_layers_init_statistics(name):
    channels, fan_in, target = 32, 72, 0.037
    cls = mapping_class(name)
    n = cls.num_qubits_for(fan_in)
    mapping = cls(channels, fan_in, n)
    probs = random_probs(channels, n)
    mapping.calibrate(probs, target)
    weights = mapping(probs)
    assert weights.shape == (channels, fan_in)
    assert abs(weights.mean().item()) < 1e-6
    assert weights.std(correction=0).item() == pytest.approx(target, rel=1e-4)
    # learnable gain stays O(1) whatever the layer's std: one learning rate fits every layer
    assert 0.05 < mapping.gain.abs().mean().item() < 20


def test_affine_is_per_channel_and_linear_in_the_probabilities():
    mapping = mapping_class("affine")(4, 6, 3)
    probs = random_probs(4, 3)
    mapping.calibrate(probs, 0.1)
    w = mapping(probs)
    torch.testing.assert_close(w.std(dim=1, correction=0), torch.full((4,), 0.1), rtol=1e-5, atol=0)
    expected = 0.1 * (mapping.gain * (probs[:, :6] * 8 - 1) + mapping.bias)
    torch.testing.assert_close(w, expected)


def test_chunked_needs_fewer_qubits():
    assert mapping_class("affine").num_qubits_for(576) == 10
    assert ChunkedMapping.num_qubits_for(576, chunk=32) == 5  # ceil(576/32)=18 states -> 5 qubits
    assert ChunkedMapping.num_qubits_for(576, chunk=16) == 6
    assert mapping_class("qt").num_qubits_for(9) == 4


def test_chunked_keeps_at_least_four_states_on_small_layers():
    assert ChunkedMapping.layer_chunk(6912, 32) == 32 and ChunkedMapping.layer_chunk(128, 32) == 32
    assert ChunkedMapping.layer_chunk(64, 32) == 16  # 4 states, not 2
    assert ChunkedMapping.layer_chunk(9, 32) == 3  # a 3x3 depthwise conv: 3 states (2 qubits), not 1
    assert ChunkedMapping.num_qubits_for(9, chunk=32) == 2
    assert ChunkedMapping(4, 9, 2, chunk=32).chunk == 3


@pytest.mark.parametrize("name", sorted(MAPPINGS))
@pytest.mark.parametrize("fan_in", [1, 9, 64])
def test_small_layers_get_filters_that_follow_the_circuits(name, fan_in):
    # A depthwise 3x3 conv (fan_in 9) once got the same all-zero filter in every channel from the chunked mapping:
    # its single probability per channel was centred away. Every channel must differ, and follow its probabilities.
    cls = mapping_class(name)
    n = cls.num_qubits_for(fan_in)
    mapping = cls(16, fan_in, n)
    probs = random_probs(16, n).requires_grad_()
    mapping.calibrate(probs.detach(), 0.1)
    weights = mapping(probs)
    assert weights.std(correction=0).item() == pytest.approx(0.1, rel=1e-3)
    assert (weights - weights[:1]).abs().amax(dim=1)[1:].min() > 1e-4  # no two channels equal to channel 0
    (grad,) = torch.autograd.grad(weights.square().sum(), probs)
    assert grad.abs().sum(dim=1).min() > 0  # every channel's weights depend on its circuit


def test_basis_bits_follow_qiskit_bit_order():
    bits = basis_bits(4, 2)  # index 1 = qubit 0 set
    assert bits.tolist() == [[-1, -1], [1, -1], [-1, 1], [1, 1]]


@pytest.mark.parametrize("name", sorted(MAPPINGS))
def test_gradients_reach_the_probabilities_and_mapping(name):
    cls = mapping_class(name)
    n = cls.num_qubits_for(40)
    mapping = cls(3, 40, n)
    probs = random_probs(3, n).requires_grad_()
    mapping(probs).square().sum().backward()
    assert probs.grad is not None and probs.grad.abs().sum() > 0
    assert all(p.grad is not None for p in mapping.parameters())


def test_unknown_mapping_lists_choices():
    with pytest.raises(ValueError, match="affine"):
        mapping_class("fourier")


def test_qt_parameter_count():
    n, hidden = 6, 16
    mapping = mapping_class("qt")(8, 50, n, hidden=hidden)
    # bits_in (n*h + h) + x_in (h) + out (h + 1) + beta, gamma + gain, bias
    expected = n * hidden + hidden + hidden + hidden + 1 + 2 + 2
    assert sum(p.numel() for p in mapping.parameters()) == expected
    assert math.isclose(mapping.alpha, 1.0)
