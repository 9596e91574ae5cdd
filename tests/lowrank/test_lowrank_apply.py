import pytest
import torch
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.lowrank import (
    LowRankConv2d, LowRankLinear, apply_lowrank, ranks_for_budget, replaced_layer_parameters,
)
from hqctf_qiskit.models import build_model
from hqctf_qiskit.qpg import apply_qpg, trainable_parameters


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
    assert isinstance(model[0], LowRankConv2d) and isinstance(model[4], LowRankLinear)
    assert model(torch.randn(2, 3, 4, 4)).shape == (2, 10)
    data = report.to_dict()
    assert data["totals"] == {"layers": 3, "params": 1665, "dense_params": 2864}
    assert "low-rank 1,691" in report.format_table()


def test_rank_is_capped_at_min_of_channels_and_fan_in():
    model = toy_model()
    report = apply_lowrank(model, "0,2", rank=12)
    assert [(layer.rank, layer.max_rank) for layer in report.layers] == [(12, 16), (8, 8)]


def test_budget_ranks_are_near_uniform_and_within_budget():
    shapes = [(256, 6912), (64, 576), (16, 144), (3, 144)]
    costs = [c + f for c, f in shapes]
    for budget in (8_115, 20_000, 36_784, 150_000):
        ranks = ranks_for_budget(shapes, budget)
        spent = sum(r * cost for r, cost in zip(ranks, costs))
        assert spent <= budget
        uncapped = [r for r, (c, f) in zip(ranks, shapes) if r < min(c, f)]
        assert max(uncapped) - min(uncapped) <= 1
        # Greedy fill: no layer still at the lower rank could take one more step.
        assert all(cost > budget - spent for r, cost in zip(ranks, costs) if r == min(uncapped) < max(uncapped))
    # Hand count: rank 1 costs 7168+640+160+147 = 8115; 20,000 allows rank 2 (16,230) and 3,770 left for +1 steps
    # on the cheapest layers: 147, 160, 640 -> ranks 3, 3, 3, and the 7168-cost layer stays at 2.
    assert ranks_for_budget(shapes, 20_000) == [2, 3, 3, 3]
    assert ranks_for_budget(shapes, 150_000) == [18, 19, 16, 3]  # 16 and 3 are the caps min(C_out, fan_in)
    with pytest.raises(ValueError, match="below the rank-1 cost 8,115"):
        ranks_for_budget(shapes, 8_000)


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
