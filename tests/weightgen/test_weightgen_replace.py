import pytest
import torch
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.config import TrainConfig
from hqctf_qiskit.lowrank import LowRankSource, apply_lowrank
from hqctf_qiskit.qpg import apply_qpg
from hqctf_qiskit.training.modeling import parameter_groups
from hqctf_qiskit.weightgen import (
    GeneratedConv2d, GeneratedLinear, replaced_layer_parameters, swap_layers, trainable_parameters,
)


def toy_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1), nn.Flatten(), nn.Linear(16, 5))


def test_swap_layers_builds_in_order_keeps_modes_and_replaces_in_place():
    model = toy_model()
    model[2].eval()
    calls = []

    def make_source(name, replaced):
        calls.append((name, type(replaced).__name__))
        return LowRankSource(replaced.weight, 1)

    swapped = swap_layers(model, ["0", "2", "4"], make_source)
    assert calls == [("0", "Conv2d"), ("2", "Conv2d"), ("4", "Linear")]
    assert swapped == [model[0], model[2], model[4]]
    assert isinstance(model[0], GeneratedConv2d) and isinstance(model[4], GeneratedLinear)
    assert model[0].training and not model[2].training
    assert model(torch.randn(2, 3, 2, 2)).shape == (2, 5)


def test_replaced_layer_parameters_counts_sources_and_biases():
    model = toy_model()
    apply_lowrank(model, "0,4", rank=2)
    # rank 2: 2·(8 + 27) + bias 8, and 2·(5 + 16) + bias 5
    assert replaced_layer_parameters(model) == 70 + 8 + 42 + 5
    assert replaced_layer_parameters(toy_model()) == 0


def test_report_table_and_dict_share_one_format():
    model = toy_model()
    report = apply_lowrank(model, "0", rank=2)
    table = report.format_table().splitlines()
    assert table[0].split() == ["layer", "ch", "fan_in", "rank", "max", "params", "dense"]
    assert table[2].split() == ["0", "8", "27", "2", "8", "70", "216"]
    assert table[-1] == (f"trainable parameters: classical {report.classical_trainable:,} -> low-rank "
                         f"{report.trainable:,} (ratio {report.ratio:.3f}, rank 2)")
    data = report.to_dict()
    assert list(data) == ["rank", "budget", "layers", "classical_trainable", "trainable", "ratio", "totals"]
    assert data["totals"] == {"layers": 1, "params": 70, "dense_params": 216}
    assert data["trainable"] == trainable_parameters(model)


def test_parameter_groups_qpg_sources_get_the_qpg_rate_and_low_rank_factors_stay_classical():
    torch.manual_seed(0)
    model = toy_model()
    apply_lowrank(model, "0", rank=2)
    apply_qpg(model, "2", AnsatzSpec(reps=1))
    config = TrainConfig.from_flat({"lr": 0.001, "qpg_lr": 0.02, "weight_decay": 0.1})
    classical, qpg = parameter_groups(model, config)
    assert (classical["name"], classical["lr"], classical["weight_decay"]) == ("classical", 0.001, 0.1)
    assert (qpg["name"], qpg["lr"], qpg["weight_decay"]) == ("qpg", 0.02, 0.0)
    source = model[2].source
    assert [id(p) for p in qpg["params"]] == [id(p) for p in source.parameters()]
    ids = {id(p) for p in classical["params"]}
    assert {id(model[0].source.factor_a), id(model[0].source.factor_b), id(model[0].bias), id(model[2].bias)} <= ids
    # Factors before the bias: the order optimizer states of low-rank runs were saved in before weight sources.
    position = {id(p): i for i, p in enumerate(classical["params"])}
    first = position[id(model[0].source.factor_a)]
    assert [position[id(p)] for p in (model[0].source.factor_b, model[0].bias)] == [first + 1, first + 2]
    assert sum(p.numel() for group in (classical, qpg) for p in group["params"]) == trainable_parameters(model)
    assert len(parameter_groups(toy_model(), config)) == 1


@pytest.mark.parametrize("layers", ["0", "0,2"])
def test_qpg_report_counts_equal_the_model(layers):
    torch.manual_seed(0)
    model = toy_model()
    report = apply_qpg(model, layers, AnsatzSpec(reps=1), mapping="chunked", mapping_options={"chunk": 4})
    totals = report.to_dict()["totals"]
    assert report.qpg_trainable == trainable_parameters(model)
    assert totals["circuit_params"] + totals["mapping_params"] == sum(
        model.get_submodule(layer.name).source.trainable_count for layer in report.layers)
    assert "-> QPG" in report.format_table() and "mapping chunked" in report.format_table()
