import torch
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.lowrank import LowRankModule, apply_lowrank, export_plain, generated_weight_modules
from hqctf_qiskit.models import build_model
from hqctf_qiskit.qpg import QPGModule, apply_qpg


def mixed_unet() -> nn.Module:
    """Low-rank decoder and a QPG segmentation head, trained one step so the factors are no longer their init."""
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", classes=3)
    apply_lowrank(model, "decoder", rank=3)
    apply_qpg(model, "head", AnsatzSpec(reps=1), mapping="affine")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = torch.randn(2, 1, 64, 64), torch.randint(0, 3, (2, 64, 64))
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    return model.eval()


def test_export_plain_matches_the_model_and_loads_into_a_fresh_smp_model():
    model = mixed_unet()
    names = [name for name, _ in generated_weight_modules(model)]
    assert len(names) == 11 and names[-1] == "segmentation_head.0"
    exported = export_plain(model).eval()
    assert not any(isinstance(m, (LowRankModule, QPGModule)) for m in exported.modules())
    assert sum(isinstance(m, LowRankModule) for m in model.modules()) == 10, "export must not modify its input"
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert (model(x) - exported(x)).abs().max().item() <= 1e-6
        fresh = build_model("unet", "resnet18", classes=3).eval()
        fresh.load_state_dict(exported.state_dict(), strict=True)
        torch.testing.assert_close(fresh(x), exported(x), atol=0, rtol=0)
        trained = model.get_submodule("decoder.blocks.0.conv1.0")
        assert torch.equal(fresh.get_submodule("decoder.blocks.0.conv1.0").weight, trained.generated_weight())


def test_export_plain_weight_override_and_unknown_names():
    model = mixed_unet()
    name = "decoder.blocks.4.conv2.0"
    replacement = torch.full(model.get_submodule(name).weight_shape, 0.01)
    exported = export_plain(model, {name: replacement})
    assert torch.equal(exported.get_submodule(name).weight, replacement)
    try:
        export_plain(model, {"encoder.conv1": replacement})
    except KeyError as exc:
        assert "encoder.conv1" in str(exc)
    else:
        raise AssertionError("an override for a plain layer must be rejected")
