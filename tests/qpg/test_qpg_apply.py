import pytest
import torch
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.models import ARCHITECTURES, build_model
from hqctf_qiskit.qpg import QPGSource, apply_qpg, qpg_layers
from hqctf_qiskit.weightgen import GeneratedConv2d, GeneratedLinear

from helpers import Tiny


def test_hand_counted_parameters_for_one_layer():
    model = nn.Sequential(nn.Conv2d(4, 8, 3))  # 8 channels, fan_in 36 -> 6 qubits
    classical = 8 * 4 * 9 + 8
    report = apply_qpg(model, ["0"], AnsatzSpec(reps=2), mapping="affine")
    (layer,) = report.layers
    # per channel: (reps + final) * qubits = 3 * 6 = 18 angles; affine: gain + bias per channel; conv bias stays
    assert (layer.channels, layer.fan_in, layer.qubits) == (8, 36, 6)
    assert layer.circuit_params == 8 * 18
    assert layer.mapping_params == 8 * 2
    assert layer.generated_weights == 8 * 36
    assert report.classical_trainable == classical
    assert report.qpg_trainable == 8 * 18 + 8 * 2 + 8
    assert report.ratio == pytest.approx(168 / 296)
    assert report.to_dict()["totals"]["circuit_params"] == 144


def test_a_pattern_matching_nothing_is_an_error():
    with pytest.raises(ValueError, match="--qpg-layers: pattern 'decodr'"):
        apply_qpg(Tiny(), ["decodr"])


def test_apply_replaces_exactly_the_selected_layers():
    model = Tiny()
    report = apply_qpg(model, "decoder,fc", AnsatzSpec(reps=1))
    assert isinstance(model.decoder[0], GeneratedConv2d) and isinstance(model.decoder[1], GeneratedConv2d)
    assert isinstance(model.fc, GeneratedLinear)
    assert all(isinstance(layer.source, QPGSource) for layer in (model.decoder[0], model.decoder[1], model.fc))
    assert [name for name, _ in qpg_layers(model)] == ["decoder.0", "decoder.1", "fc"]
    assert type(model.encoder[0]) is nn.Conv2d and type(model.segmentation_head) is nn.Conv2d
    assert [layer.name for layer in report.layers] == ["decoder.0", "decoder.1", "fc"]
    assert apply_qpg(Tiny(), "none").layers == []


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architecture_trains_with_qpg_on_decoder(arch):
    torch.manual_seed(0)
    model = build_model(arch, "resnet18", in_channels=1, classes=3)
    report = apply_qpg(model, "decoder", AnsatzSpec(reps=1), mapping="affine")
    assert report.layers and report.qpg_trainable < report.classical_trainable
    x = torch.randn(4, 1, 64, 64)
    y = (x[:, 0] > 0.5).long() + (x[:, 0] > 1.5).long()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    model.train()
    for _ in range(8):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss.item())
        optimizer.step()
    layers = qpg_layers(model)
    assert layers and all(layer.source.theta.grad is not None for _, layer in layers)
    assert sum(losses[-3:]) / 3 < losses[0], losses
