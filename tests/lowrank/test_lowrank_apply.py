import pytest
import torch
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.lowrank import LowRankSource, apply_lowrank
from hqctf_qiskit.models import build_model
from hqctf_qiskit.qpg import apply_qpg
from hqctf_qiskit.weightgen import GeneratedConv2d, GeneratedLinear, replaced_layer_parameters, trainable_parameters


def toy_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),            # 448 params: weight 16x27, bias 16
        nn.ReLU(),
        nn.Conv2d(16, 8, 3, padding=1, bias=False),  # 1152 params: weight 8x144
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),                  # 1290 params: weight 10x128, bias 10
    )


def test_fixed_rank_parameter_counts_by_hand():
    torch.manual_seed(0)
    model = toy_model()
    report = apply_lowrank(model, ["0", "2", "4"], rank=5)
    assert report.classical_trainable == 448 + 1152 + 1290 == 2890
    assert [layer.rank for layer in report.layers] == [5, 5, 5]
    # r·(C_out + fan_in): 5·(16+27), 5·(8+144), 5·(10+128)
    assert [layer.params for layer in report.layers] == [215, 760, 690]
    assert [layer.dense_params for layer in report.layers] == [432, 1152, 1280]
    assert report.trainable == 215 + 16 + 760 + 690 + 10 == 1691
    assert report.ratio == pytest.approx(1691 / 2890)
    assert isinstance(model[0], GeneratedConv2d) and isinstance(model[4], GeneratedLinear)
    assert all(isinstance(model[i].source, LowRankSource) for i in (0, 2, 4))
    assert model(torch.randn(2, 3, 4, 4)).shape == (2, 10)
    data = report.to_dict()
    assert data["totals"] == {"layers": 3, "params": 1665, "dense_params": 2864}
    assert "low-rank 1,691" in report.format_table()


def test_rank_is_capped_at_min_of_channels_and_fan_in():
    model = toy_model()
    report = apply_lowrank(model, "0,2", rank=12)
    assert [(layer.rank, layer.max_rank) for layer in report.layers] == [(12, 16), (8, 8)]


def test_budget_from_a_qpg_model_gives_an_equal_budget_unet():
    torch.manual_seed(0)
    qpg = build_model("unet", "resnet18", classes=3)
    qpg_report = apply_qpg(qpg, "decoder", AnsatzSpec(reps=2), mapping="affine")
    budget = replaced_layer_parameters(qpg)
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", classes=3)
    dense = sum(model.get_submodule(layer.name).weight.numel() for layer in qpg_report.layers)
    report = apply_lowrank(model, "decoder", budget=budget)
    assert [layer.name for layer in report.layers] == [layer.name for layer in qpg_report.layers]
    # Everything outside the selected layers is unchanged: the totals differ only by the factor-vs-dense weights.
    factors = sum(layer.params for layer in report.layers)
    assert report.trainable == report.classical_trainable - dense + factors == trainable_parameters(model)
    assert report.trainable <= qpg_report.qpg_trainable
    assert qpg_report.qpg_trainable - report.trainable < max(layer.channels + layer.fan_in for layer in report.layers)


def test_invalid_arguments_name_the_option():
    with pytest.raises(ValueError, match="--lowrank-layers: pattern 'decodr'"):
        apply_lowrank(toy_model(), "decodr", rank=2)
    with pytest.raises(ValueError, match="not both"):
        apply_lowrank(toy_model(), "0", rank=2, budget=100)
    with pytest.raises(ValueError, match="needs --rank or a parameter budget"):
        apply_lowrank(toy_model(), "0")
    with pytest.raises(ValueError, match="--rank must be >= 1"):
        apply_lowrank(toy_model(), "0", rank=0)
    report = apply_lowrank(toy_model(), "none")
    assert report.layers == [] and report.trainable == report.classical_trainable == 2890
