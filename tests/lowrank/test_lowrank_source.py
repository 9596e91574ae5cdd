import pytest
import torch
from torch import nn

from hqctf_qiskit.lowrank import LowRankSource, factorize
from hqctf_qiskit.weightgen import GeneratedConv2d, GeneratedLinear


def lowrank_conv(conv: nn.Conv2d, rank: int) -> GeneratedConv2d:
    return GeneratedConv2d(conv, LowRankSource(conv.weight, rank))


def lowrank_linear(linear: nn.Linear, rank: int) -> GeneratedLinear:
    return GeneratedLinear(linear, LowRankSource(linear.weight, rank))

CONV_CONFIGS = [
    dict(in_channels=6, out_channels=8, kernel_size=3, padding=1),
    dict(in_channels=6, out_channels=8, kernel_size=3, stride=2, dilation=2, padding=2, bias=False),
    dict(in_channels=6, out_channels=4, kernel_size=(3, 1), groups=2, padding=(1, 0)),
    dict(in_channels=6, out_channels=6, kernel_size=3, groups=6, padding=1),  # depthwise: fan_in 9
    dict(in_channels=6, out_channels=8, kernel_size=3, padding=1, padding_mode="reflect"),
]


@pytest.mark.parametrize("config", CONV_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_full_rank_conv_reproduces_the_replaced_conv_and_exports_to_a_plain_one(config):
    torch.manual_seed(0)
    conv = nn.Conv2d(**config)
    full = min(conv.weight.shape[0], conv.weight[0].numel())
    layer = lowrank_conv(conv, full)
    x = torch.randn(2, 6, 11, 9)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), conv(x), atol=1e-5, rtol=1e-5)
        plain = layer.materialize()
        assert type(plain) is nn.Conv2d
        for attr in ("stride", "padding", "dilation", "groups", "padding_mode", "kernel_size"):
            assert getattr(plain, attr) == getattr(conv, attr)
        assert torch.equal(plain(x), layer(x))


def test_truncated_init_is_the_best_rank_r_approximation_at_the_original_scale():
    torch.manual_seed(1)
    conv = nn.Conv2d(16, 32, 3)
    layer = lowrank_conv(conv, 4)
    weight = layer.generated_weight().detach().reshape(32, -1).double()
    original = conv.weight.detach().reshape(32, -1).double()
    assert torch.linalg.matrix_rank(weight, rtol=1e-4).item() == 4
    # Same RMS as the replaced init (not the ~4/32 of its energy that truncation alone keeps).
    assert weight.square().mean().sqrt().item() == pytest.approx(original.square().mean().sqrt().item(), rel=1e-5)
    u, s, vh = torch.linalg.svd(original, full_matrices=False)
    best = (u[:, :4] * s[:4]) @ vh[:4]
    cosine = (weight * best).sum() / (weight.norm() * best.norm())
    assert cosine.item() == pytest.approx(1.0, abs=1e-6)
    # Balanced factors: A and B carry the same share of the singular values.
    assert layer.source.factor_a.norm().item() == pytest.approx(layer.source.factor_b.norm().item(), rel=1e-5)


def test_degenerate_weight_gets_live_factors():
    torch.manual_seed(2)
    conv = nn.Conv2d(4, 8, 3)
    nn.init.zeros_(conv.weight)  # a zero (or rank-deficient) init would leave zero factor pairs with zero gradient
    layer = lowrank_conv(conv, 3)
    layer(torch.randn(2, 4, 7, 7)).square().sum().backward()
    assert torch.linalg.matrix_rank(layer.generated_weight().detach().reshape(8, -1), rtol=1e-4).item() == 3
    source = layer.source
    for grad in (source.factor_a.grad, source.factor_b.grad):
        assert (grad.norm(dim=0 if grad is source.factor_a.grad else 1) > 0).all()


def test_parameter_count_by_hand():
    conv = nn.Conv2d(16, 32, 3, bias=True)
    layer = lowrank_conv(conv, 4)
    # A: 32x4, B: 4x(16*3*3), bias 32
    assert sum(p.numel() for p in layer.parameters()) == 32 * 4 + 4 * 144 + 32 == 736
    linear = lowrank_linear(nn.Linear(20, 10, bias=False), 3)
    assert sum(p.numel() for p in linear.parameters()) == 10 * 3 + 3 * 20 == 90


def test_linear_full_rank_equivalence_and_materialize():
    torch.manual_seed(3)
    linear = nn.Linear(12, 5)
    layer = lowrank_linear(linear, 5).eval()
    x = torch.randn(4, 12)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), linear(x), atol=1e-5, rtol=1e-5)
        plain = layer.materialize()
    assert type(plain) is nn.Linear and not plain.training
    assert torch.equal(plain.bias, layer.bias.detach())


def test_rank_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="rank must be in 1..5"):
        factorize(torch.randn(5, 12), 6)
    with pytest.raises(ValueError, match="rank must be in"):
        lowrank_linear(nn.Linear(12, 5), 0)


def test_source_rank_and_repr():
    source = LowRankSource(torch.randn(6, 2, 3, 3), 4)
    assert (source.rank, source.channels, source.fan_in, source.weight_shape) == (4, 6, 18, (6, 2, 3, 3))
    assert source.trainable_count == 4 * (6 + 18) and source().shape == (6, 2, 3, 3)
    assert "rank=4" in repr(lowrank_conv(nn.Conv2d(2, 6, 3), 4))
