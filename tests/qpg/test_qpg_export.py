import subprocess
import sys
import textwrap

import torch

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.models import build_model
from hqctf_qiskit.qpg import QPGModule, apply_qpg, export_classical


def qpg_unet():
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", classes=3)
    apply_qpg(model, ["decoder", "head"], AnsatzSpec(reps=1), mapping="qt")
    return model


def test_export_equals_qpg_model_and_loads_into_a_fresh_model():
    model = qpg_unet().eval()
    exported = export_classical(model).eval()
    assert not any(isinstance(m, QPGModule) for m in exported.modules())
    assert any(isinstance(m, QPGModule) for m in model.modules()), "export must not modify its input"
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        diff = (model(x) - exported(x)).abs().max().item()
    assert diff <= 1e-6
    fresh = build_model("unet", "resnet18", classes=3).eval()
    fresh.load_state_dict(exported.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), exported(x), atol=0, rtol=0)


def test_inference_path_does_not_import_qiskit(tmp_path):
    exported = export_classical(qpg_unet().eval())
    torch.save(exported.state_dict(), tmp_path / "model.pt")
    script = textwrap.dedent(
        f"""
        import sys, torch
        import hqctf_qiskit, hqctf_qiskit.models, hqctf_qiskit.qpg
        from hqctf_qiskit.qpg import export_classical
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


def test_export_with_override_weights_uses_them():
    model = qpg_unet().eval()
    name = "segmentation_head.0"
    layer = model.get_submodule(name)
    replacement = torch.full(layer.weight_shape, 0.01)
    exported = export_classical(model, {name: replacement})
    assert torch.equal(exported.get_submodule(name).weight, replacement)
    other = "decoder.blocks.0.conv1.0"
    with torch.no_grad():
        assert torch.equal(exported.get_submodule(other).weight, model.get_submodule(other).generated_weight())
