import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.lowrank import LowRankSource, apply_lowrank
from hqctf_qiskit.models import build_model
from hqctf_qiskit.qpg import QPGSource, apply_qpg
from hqctf_qiskit.weightgen import GeneratedWeightLayer, export_plain, generated_layers


def mixed_unet() -> nn.Module:
    """Low-rank decoder and a QPG segmentation head, trained one step so the weights are no longer their init."""
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", classes=3)
    apply_lowrank(model, "decoder", rank=3)
    apply_qpg(model, "head", AnsatzSpec(reps=1), mapping="qt")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = torch.randn(2, 1, 64, 64), torch.randint(0, 3, (2, 64, 64))
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def mixed() -> nn.Module:
    return mixed_unet()


def test_generated_layers_finds_every_source_kind_in_model_order(mixed):
    layers = generated_layers(mixed)
    assert len(layers) == 11 and layers[-1][0] == "segmentation_head.0"
    kinds = [type(layer.source) for _, layer in layers]
    assert kinds == [LowRankSource] * 10 + [QPGSource]
    assert generated_layers(build_model("unet", "resnet18", classes=3)) == []


def test_export_plain_matches_the_model_and_loads_into_a_fresh_smp_model(mixed):
    exported = export_plain(mixed).eval()
    assert not any(isinstance(m, GeneratedWeightLayer) for m in exported.modules())
    assert len(generated_layers(mixed)) == 11, "export must not modify its input"
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert (mixed(x) - exported(x)).abs().max().item() <= 1e-5
        fresh = build_model("unet", "resnet18", classes=3).eval()
        fresh.load_state_dict(exported.state_dict(), strict=True)
        torch.testing.assert_close(fresh(x), exported(x), atol=0, rtol=0)
        for name in ("decoder.blocks.0.conv1.0", "segmentation_head.0"):
            assert torch.equal(fresh.get_submodule(name).weight, mixed.get_submodule(name).generated_weight())


def test_export_plain_weight_override_and_unknown_names(mixed):
    name = "segmentation_head.0"
    replacement = torch.full(mixed.get_submodule(name).weight_shape, 0.01)
    exported = export_plain(mixed, {name: replacement})
    assert torch.equal(exported.get_submodule(name).weight, replacement)
    other = "decoder.blocks.4.conv2.0"
    with torch.no_grad():
        assert torch.equal(exported.get_submodule(other).weight, mixed.get_submodule(other).generated_weight())
    with pytest.raises(KeyError, match="encoder.conv1"):
        export_plain(mixed, {"encoder.conv1": replacement})


def test_an_exported_model_runs_without_qiskit(tmp_path, mixed):
    torch.save(export_plain(mixed).state_dict(), tmp_path / "model.pt")
    script = textwrap.dedent(
        f"""
        import sys, torch
        import hqctf_qiskit.models, hqctf_qiskit.weightgen, hqctf_qiskit.qpg, hqctf_qiskit.lowrank
        model = hqctf_qiskit.models.build_model("unet", "resnet18", classes=3).eval()
        model.load_state_dict(torch.load(r"{tmp_path / 'model.pt'}", weights_only=True))
        with torch.no_grad():
            out = model(torch.zeros(1, 1, 64, 64))
        assert out.shape == (1, 3, 64, 64)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("qiskit", "qiskit_aer", "qiskit_ibm_runtime"))
        print("LEAKED", leaked)
        sys.exit(1 if leaked else 0)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
