import pytest
import torch
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.qpg import ChannelCircuitGenerator, QPGConv2d, QPGLinear, apply_qpg, engine_provider


def make_generator(channels, fan_in, mapping="affine", reps=2, **options):
    engine_for = engine_provider(AnsatzSpec(reps=reps))
    return ChannelCircuitGenerator(channels, fan_in, engine_for, mapping=mapping, mapping_options=options, target_std=0.1)


CONV_CASES = [
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=1),
    dict(in_channels=3, out_channels=5, kernel_size=5, stride=2, padding=2, bias=False),
    dict(in_channels=4, out_channels=8, kernel_size=3, dilation=2, padding=2, groups=2),
    dict(in_channels=6, out_channels=6, kernel_size=3, padding=1, groups=6),  # depthwise
    dict(in_channels=2, out_channels=4, kernel_size=3, padding=1, padding_mode="reflect"),
    dict(in_channels=2, out_channels=3, kernel_size=(3, 1), stride=(1, 2), padding=(1, 0)),
]


@pytest.mark.parametrize("kwargs", CONV_CASES)
@pytest.mark.parametrize("mapping", ["affine", "qt", "chunked"])
def test_qpg_conv_equals_its_materialized_conv(kwargs, mapping):
    torch.manual_seed(0)
    conv = nn.Conv2d(**kwargs)
    fan_in = conv.weight[0].numel()
    options = {"chunk": 4} if mapping == "chunked" else {}
    qpg = QPGConv2d(conv, make_generator(conv.out_channels, fan_in, mapping, **options)).eval()
    plain = qpg.materialize()
    assert type(plain) is nn.Conv2d and plain.weight.shape == conv.weight.shape
    x = torch.randn(2, conv.in_channels, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(qpg(x), plain(x), atol=1e-6, rtol=0)
    assert (plain.bias is None) == (conv.bias is None)


def test_generated_weights_start_with_the_replaced_layers_statistics():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3)
    model = nn.Sequential(conv)
    init_std = conv.weight.std().item()
    apply_qpg(model, ["0"], AnsatzSpec(reps=2))
    with torch.no_grad():
        w = model[0].generated_weight()
    assert w.std().item() == pytest.approx(init_std, rel=1e-3)
    assert abs(w.mean().item()) < 0.05 * init_std


def test_gradients_flow_to_circuit_parameters_mapping_and_bias():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    qpg = QPGConv2d(conv, make_generator(4, 27))
    qpg(torch.randn(2, 3, 8, 8)).square().mean().backward()
    g = qpg.generator
    assert g.theta.grad is not None and g.theta.grad.abs().sum() > 0
    assert g.mapping.gain.grad is not None and qpg.bias.grad is not None


def test_theta_initialization_is_spread_not_zero():
    g = make_generator(16, 27)
    assert g.theta.std() > 1.0
    weights = g().detach()
    assert not torch.allclose(weights[0], weights[1])


def test_eval_cache_is_refreshed_after_an_optimizer_step():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    qpg = QPGConv2d(conv, make_generator(4, 27))
    qpg.eval()
    with torch.no_grad():
        first = qpg.generated_weight()
        assert qpg.generated_weight() is first  # cached
    qpg.train()
    opt = torch.optim.SGD(qpg.parameters(), lr=0.5)
    qpg(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    qpg.eval()
    with torch.no_grad():
        second = qpg.generated_weight()
    assert not torch.allclose(first, second)
    with torch.no_grad():
        qpg.generator.theta.add_(0.1)  # an in-place change while in eval mode
        assert not torch.equal(qpg.generated_weight(), second)


def test_one_engine_call_per_forward():
    conv = nn.Conv2d(3, 8, 3)
    generator = make_generator(8, 27)
    calls = []
    original = generator.engine.probabilities

    def counting(theta):
        calls.append(theta.shape)
        return original(theta)

    generator.engine.probabilities = counting
    QPGConv2d(conv, generator)(torch.randn(1, 3, 6, 6))
    assert calls == [(8, generator.theta.shape[1])]


def test_qpg_linear_equals_its_materialized_linear():
    torch.manual_seed(0)
    linear = nn.Linear(20, 7)
    qpg = QPGLinear(linear, make_generator(7, 20)).eval()
    x = torch.randn(5, 20)
    with torch.no_grad():
        torch.testing.assert_close(qpg(x), qpg.materialize()(x), atol=1e-6, rtol=0)


def test_double_precision_model_and_engine():
    conv = nn.Conv2d(2, 3, 3).double()
    engine_for = engine_provider(AnsatzSpec(reps=1), dtype=torch.float64)
    generator = ChannelCircuitGenerator(3, 18, engine_for).double()
    out = QPGConv2d(conv, generator)(torch.randn(1, 2, 5, 5, dtype=torch.float64))
    assert out.dtype == torch.float64


@pytest.mark.parametrize("mapping, options, min_rank", [("affine", {}, 60), ("qt", {}, 56), ("chunked", {"chunk": 32}, 36)])
def test_generated_filters_are_not_near_rank_one(mapping, options, min_rank):
    """Filters shared across channels (an MLP dominated by its bitstring input) would collapse the layer's rank."""
    torch.manual_seed(0)
    weights = make_generator(64, 576, mapping, **options)().detach().double()
    singular = torch.linalg.svdvals(weights)
    assert int((singular > 0.01 * singular[0]).sum()) >= min_rank
