import subprocess
import sys
import textwrap

import pytest
import torch

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.config import TrainConfig
from hqctf_qiskit.lowrank import qpg_budget, ranks_for_budget
from hqctf_qiskit.models import build_model
from hqctf_qiskit.qpg import apply_qpg
from hqctf_qiskit.training.modeling import build_training_model, lowrank_budget
from hqctf_qiskit.weightgen import replaced_layer_parameters

MAPPINGS = [("affine", {}), ("qt", {}), ("chunked", {"chunk": 32}), ("chunked", {"chunk": 8})]


@pytest.mark.parametrize("mapping, options", MAPPINGS)
@pytest.mark.parametrize("layers", ["decoder", "decoder,head"])
def test_counted_budget_equals_the_built_qpg_model_and_draws_the_same_numbers(mapping, options, layers):
    ansatz = AnsatzSpec(reps=2)
    torch.manual_seed(0)
    counted = qpg_budget(build_model("unet", "resnet18", classes=3), layers, ansatz, mapping, options)
    after_count = torch.rand(3)
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", classes=3)
    apply_qpg(model, layers, ansatz, mapping=mapping, mapping_options=options)
    after_build = torch.rand(3)
    assert counted == replaced_layer_parameters(model)
    # The count advances the torch RNG as building the QPG layers does: what is built next gets the same numbers.
    assert torch.equal(after_count, after_build)


def test_budget_by_hand_for_one_layer():
    model = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3))  # fan_in 36 -> 6 qubits
    # affine: 8 channels x 3 rotation layers x 6 qubits angles, gain + bias per channel, the conv's bias
    assert qpg_budget(model, "0", AnsatzSpec(reps=2)) == 8 * 18 + 8 * 2 + 8
    assert qpg_budget(model, "0", AnsatzSpec(reps=2, rotation="ry_rz")) == 8 * 36 + 8 * 2 + 8
    with pytest.raises(ValueError, match="--lowrank-layers: pattern 'decoder'"):
        qpg_budget(model, "decoder", AnsatzSpec())


def test_config_budget_is_the_counted_one_and_numbers_are_used_as_given():
    config = TrainConfig.from_flat({"qpg_layers": "none", "lowrank_layers": "decoder", "rank_budget": "qpg",
                                    "mapping": "chunked", "chunk": 16, "reps": 1})
    expected = qpg_budget(build_model("unet", "resnet18", classes=3), "decoder", AnsatzSpec(reps=1), "chunked",
                          {"chunk": 16})
    assert lowrank_budget(config) == expected
    model, report = build_training_model(config)
    assert report["kind"] == "lowrank" and report["budget"] == expected
    assert report["totals"]["params"] <= expected  # the decoder convs have no bias: the factors fill the budget
    numeric = TrainConfig.from_flat({"qpg_layers": "none", "lowrank_layers": "decoder", "rank_budget": 40000})
    assert lowrank_budget(numeric) == 40000


LOW_RANK_RUNS = """
import sys
from pathlib import Path

import torch

from hqctf_qiskit.config import TrainConfig, save_config
from hqctf_qiskit.training.checkpoint import checkpoint_path, save_checkpoint
from hqctf_qiskit.training.modeling import build_training_model
from hqctf_qiskit.training.runs import load_run_model

for index, options in enumerate({cases!r}):
    config = TrainConfig.from_flat({{"qpg_layers": "none", "lowrank_layers": "decoder,head", **options}})
    model, report = build_training_model(config)
    assert report["kind"] == "lowrank" and len(report["layers"]) == 11
    run = Path(sys.argv[1]) / str(index)
    run.mkdir(parents=True)
    save_config(config, run / "config.yaml")
    save_checkpoint(checkpoint_path(run, "best"), {{"model": model.state_dict()}})
    loaded, _ = load_run_model(run)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
leaked = sorted(m for m in sys.modules if m.split(".")[0].startswith("qiskit"))
print("LEAKED", leaked[:5])
sys.exit(1 if leaked else 0)
"""


def test_low_rank_runs_build_and_load_without_qiskit(tmp_path):
    """A fixed rank or a numeric budget: no circuit code is imported, from building the model to loading the run."""
    cases = [{"rank": 2}, {"rank_budget": 60000}, {"rank_budget": "qpg"}]
    script = textwrap.dedent(LOW_RANK_RUNS.format(cases=cases))
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


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
