import pytest
import torch
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.qpg import QPGSource, apply_qpg, engine_provider, initial_parameters, layer_qubits
from hqctf_qiskit.weightgen import GeneratedConv2d, GeneratedLinear


def make_source(shape, mapping="affine", reps=2, **options):
    engine_for = engine_provider(AnsatzSpec(reps=reps))
    return QPGSource(shape, engine_for, mapping=mapping, mapping_options=options, target_std=0.1)


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
    options = {"chunk": 4} if mapping == "chunked" else {}
    qpg = GeneratedConv2d(conv, make_source(conv.weight.shape, mapping, **options)).eval()
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
    qpg = GeneratedConv2d(conv, make_source(conv.weight.shape))
    qpg(torch.randn(2, 3, 8, 8)).square().mean().backward()
    source = qpg.source
    assert source.theta.grad is not None and source.theta.grad.abs().sum() > 0
    assert source.mapping.gain.grad is not None and qpg.bias.grad is not None


def test_theta_initialization_is_spread_not_zero():
    source = make_source((16, 27))
    assert source.theta.std() > 1.0
    weights = source().detach()
    assert weights.shape == (16, 27) and not torch.allclose(weights[0], weights[1])


def test_initial_parameters_are_what_the_source_draws():
    torch.manual_seed(3)
    source = make_source((8, 3, 3, 3), "qt")
    torch.manual_seed(3)
    n = layer_qubits(27, "qt")
    theta, mapping = initial_parameters(8, 27, AnsatzSpec(reps=2).num_parameters(n), "qt")
    assert source.num_qubits == n == 5 and torch.equal(source.theta, theta)
    assert torch.equal(source.mapping.bits_in.weight, mapping.bits_in.weight)


def test_one_engine_call_per_forward():
    conv = nn.Conv2d(3, 8, 3)
    source = make_source(conv.weight.shape)
    calls = []
    original = source.engine.probabilities

    def counting(theta):
        calls.append(theta.shape)
        return original(theta)

    source.engine.probabilities = counting
    GeneratedConv2d(conv, source)(torch.randn(1, 3, 6, 6))
    assert calls == [(8, source.theta.shape[1])]


def test_qpg_linear_equals_its_materialized_linear():
    torch.manual_seed(0)
    linear = nn.Linear(20, 7)
    qpg = GeneratedLinear(linear, make_source(linear.weight.shape)).eval()
    x = torch.randn(5, 20)
    with torch.no_grad():
        torch.testing.assert_close(qpg(x), qpg.materialize()(x), atol=1e-6, rtol=0)
    assert "qubits=5, mapping=affine" in repr(qpg)


def test_double_precision_model_and_engine():
    conv = nn.Conv2d(2, 3, 3).double()
    engine_for = engine_provider(AnsatzSpec(reps=1), dtype=torch.float64)
    source = QPGSource(conv.weight.shape, engine_for).double()
    out = GeneratedConv2d(conv, source)(torch.randn(1, 2, 5, 5, dtype=torch.float64))
    assert out.dtype == torch.float64


def test_regenerate_from_probabilities_equals_the_forward():
    source = make_source((4, 2, 3, 3), "chunked", chunk=4)
    with torch.no_grad():
        torch.testing.assert_close(source.regenerate_from(source.probabilities()), source(), atol=0, rtol=0)


@pytest.mark.parametrize("mapping, options, min_rank", [("affine", {}, 60), ("qt", {}, 56), ("chunked", {"chunk": 32}, 36)])
def test_generated_filters_are_not_near_rank_one(mapping, options, min_rank):
    """Filters shared across channels (an MLP dominated by its bitstring input) would collapse the layer's rank."""
    torch.manual_seed(0)
    weights = make_source((64, 576), mapping, **options)().detach().double()
    singular = torch.linalg.svdvals(weights)
    assert int((singular > 0.01 * singular[0]).sum()) >= min_rank
