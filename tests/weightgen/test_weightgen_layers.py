import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.lowrank import LowRankSource
from hqctf_qiskit.qpg import QPGSource, engine_provider
from hqctf_qiskit.weightgen import GeneratedConv2d, GeneratedLinear, GeneratedWeightLayer, generated_layer

CONV_CASES = [
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1),
    dict(in_channels=3, out_channels=5, kernel_size=5, stride=2, padding=2, bias=False),
    dict(in_channels=4, out_channels=8, kernel_size=3, dilation=2, padding=2, groups=2),
    dict(in_channels=6, out_channels=6, kernel_size=3, padding=1, groups=6),  # depthwise
    dict(in_channels=2, out_channels=4, kernel_size=3, padding=1, padding_mode="reflect"),
    dict(in_channels=2, out_channels=3, kernel_size=(3, 1), stride=(1, 2), padding=(1, 0)),
]


def qpg_source(weight: torch.Tensor, mapping: str = "affine") -> QPGSource:
    return QPGSource(weight.shape, engine_provider(AnsatzSpec(reps=1)), mapping=mapping, target_std=0.1)


def lowrank_source(weight: torch.Tensor) -> LowRankSource:
    return LowRankSource(weight, 2)


SOURCES = {"qpg": qpg_source, "lowrank": lowrank_source}


def conv_reference(layer: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``nn.Conv2d``'s own forward with ``weight`` in place of its parameter."""
    plain = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                      layer.dilation, layer.groups, bias=layer.bias is not None, padding_mode=layer.padding_mode)
    return plain._conv_forward(x, weight, layer.bias)


@pytest.mark.parametrize("kwargs", CONV_CASES)
@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_conv_forward_is_the_conv_of_the_sources_weight_and_materializes_to_it(kwargs, kind):
    torch.manual_seed(0)
    conv = nn.Conv2d(**kwargs)
    layer = GeneratedConv2d(conv, SOURCES[kind](conv.weight))
    x = torch.randn(2, conv.in_channels, 9, 11)
    weight = layer.source()
    assert weight.shape == conv.weight.shape
    out = layer(x)
    torch.testing.assert_close(out, conv_reference(layer, x, weight), atol=0, rtol=0)
    if conv.padding_mode == "zeros":
        torch.testing.assert_close(out, F.conv2d(x, weight, layer.bias, conv.stride, conv.padding, conv.dilation,
                                                 conv.groups), atol=0, rtol=0)
    plain = layer.eval().materialize()
    assert type(plain) is nn.Conv2d and not plain.training
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                 "padding_mode"):
        assert getattr(plain, attr) == getattr(conv, attr)
    assert (plain.bias is None) == (conv.bias is None)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), layer(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_linear_forward_and_materialize(kind):
    torch.manual_seed(0)
    linear = nn.Linear(20, 7)
    layer = GeneratedLinear(linear, SOURCES[kind](linear.weight))
    x = torch.randn(5, 20)
    torch.testing.assert_close(layer(x), F.linear(x, layer.source(), layer.bias), atol=0, rtol=0)
    plain = layer.eval().materialize()
    assert type(plain) is nn.Linear and torch.equal(plain.bias, layer.bias.detach())
    with torch.no_grad():
        torch.testing.assert_close(plain(x), layer(x), atol=1e-6, rtol=0)


def test_bias_is_a_trainable_copy_and_is_listed_before_the_source():
    conv = nn.Conv2d(3, 4, 3)
    layer = GeneratedConv2d(conv, lowrank_source(conv.weight))
    assert torch.equal(layer.bias, conv.bias) and layer.bias is not conv.bias and layer.bias.requires_grad
    assert [name for name, _ in layer.named_parameters()] == ["bias", "source.factor_a", "source.factor_b"]
    layer(torch.randn(1, 3, 5, 5)).sum().backward()
    assert layer.bias.grad is not None and layer.source.factor_a.grad is not None and conv.bias.grad is None


def test_eval_cache_is_reused_and_refreshed_after_any_source_change():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    layer = GeneratedConv2d(conv, qpg_source(conv.weight))
    layer.eval()
    with torch.no_grad():
        first = layer.generated_weight()
        assert layer.generated_weight() is first  # cached
    assert layer.generated_weight() is not first  # with gradients on, always generated afresh
    layer.train()
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    layer(torch.randn(2, 3, 8, 8)).sum().backward()
    optimizer.step()
    layer.eval()
    with torch.no_grad():
        second = layer.generated_weight()
        assert not torch.allclose(first, second)
        layer.source.theta.add_(0.1)  # an in-place change while in eval mode
        assert not torch.equal(layer.generated_weight(), second)


def test_materialize_with_an_override_weight_casts_it_to_the_source():
    conv = nn.Conv2d(2, 3, 3).double()
    layer = GeneratedConv2d(conv, lowrank_source(conv.weight))
    plain = layer.materialize(torch.full(conv.weight.shape, 0.5))
    assert plain.weight.dtype == torch.float64 and torch.equal(plain.weight, torch.full_like(plain.weight, 0.5))


def test_wrong_shapes_and_layer_types_are_rejected():
    conv = nn.Conv2d(2, 3, 3)
    with pytest.raises(ValueError, match=r"shape \[3, 2, 1, 1\] cannot replace the weight \[3, 2, 3, 3\]"):
        GeneratedConv2d(conv, LowRankSource(torch.randn(3, 2, 1, 1), 1))

    class SamePadConv(nn.Conv2d):
        pass

    with pytest.raises(TypeError, match="SamePadConv"):
        generated_layer(SamePadConv(2, 3, 3), lowrank_source(conv.weight))
    assert isinstance(generated_layer(conv, lowrank_source(conv.weight)), GeneratedWeightLayer)


def old_key(key: str) -> str:
    """The key a checkpoint written before weightgen holds for today's ``key``."""
    return key.replace(".source.factor_", ".factor_").replace(".source.", ".generator.")


def test_state_dicts_with_the_old_key_names_still_load():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Conv2d(4, 6, 1), nn.Flatten(), nn.Linear(6, 5), nn.Linear(5, 3))
    model[0] = GeneratedConv2d(model[0], qpg_source(model[0].weight, mapping="qt"))
    model[1] = GeneratedConv2d(model[1], lowrank_source(model[1].weight))
    model[3] = GeneratedLinear(model[3], lowrank_source(model[3].weight))
    model[4] = GeneratedLinear(model[4], qpg_source(model[4].weight))
    current = {key: value.clone() for key, value in model.state_dict().items()}
    old = {old_key(key): value.clone() + 1 for key, value in current.items()}
    assert "0.generator.theta" in old and "0.generator.mapping.bits_in.weight" in old
    assert "1.factor_a" in old and "3.factor_b" in old and "4.generator.mapping.gain" in old
    assert "0.bias" in old and "0.generator.mapping.bias" in old  # the layer's bias vs the mapping's
    model.load_state_dict(old, strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, current[key] + 1), key
    with pytest.raises(RuntimeError, match="Unexpected key"):
        model.load_state_dict({**old, "1.factor_c": torch.zeros(1)}, strict=True)
