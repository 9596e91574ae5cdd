"""The hypernet control: QPG's parameter count and mapping per layer, a classical generator that is differentiable,
seeded and calibrated, exported to plain layers and built without qiskit; and the product-ansatz control's count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.func import functional_call

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.config import ConfigError, TrainConfig
from hqctf_qiskit.hypernet import HypernetSource, apply_hypernet
from hqctf_qiskit.lowrank import qpg_budget
from hqctf_qiskit.models import build_model
from hqctf_qiskit.qpg import apply_qpg, qpg_layers
from hqctf_qiskit.training.modeling import build_training_model, parameter_groups
from hqctf_qiskit.weightgen import export_plain, generated_layers, replaced_layer_parameters

from helpers import Tiny

LAYERS = "decoder.blocks.4.*,segmentation_head.*"


def _per_layer(report) -> list[tuple]:
    return [(layer.name, layer.qubits, layer.circuit_params, layer.mapping_params) for layer in report.layers]


@pytest.mark.parametrize("mapping, options", [("affine", {}), ("chunked", {"chunk": 8})])
def test_controls_have_qpgs_trainable_parameters_in_every_layer(mapping, options):
    ansatz = AnsatzSpec(reps=1)
    built = {}
    for name, apply, template in [
        ("qpg", apply_qpg, ansatz), ("product", apply_qpg, AnsatzSpec(reps=1, entanglement="none")),
        ("hypernet", apply_hypernet, ansatz),
    ]:
        torch.manual_seed(0)
        model = build_model("unet", "resnet18", classes=2)
        report = apply(model, LAYERS, template, mapping=mapping, mapping_options=options)
        built[name] = (model, report)
    qpg_model, qpg_report = built["qpg"]
    for name in ("product", "hypernet"):
        model, report = built[name]
        assert _per_layer(report) == _per_layer(qpg_report), name
        sources = [layer.source for _, layer in generated_layers(model)]
        assert [sum(p.numel() for p in s.parameters()) for s in sources] == [
            sum(p.numel() for p in layer.source.parameters()) for _, layer in generated_layers(qpg_model)]
        assert report.qpg_trainable == qpg_report.qpg_trainable
        assert replaced_layer_parameters(model) == qpg_budget(build_model("unet", "resnet18", classes=2), LAYERS,
                                                              ansatz, mapping, options)
    hypernet_model = built["hypernet"][0]
    assert qpg_layers(hypernet_model) == [], "the hardware trial must never take hypernet layers for circuits"
    assert all(isinstance(layer.source, HypernetSource) for _, layer in generated_layers(hypernet_model))


def _source(seed: int, shape=(6, 4, 3, 3), dtype=torch.float32) -> HypernetSource:
    torch.manual_seed(seed)
    return HypernetSource(shape, AnsatzSpec(reps=2), target_std=0.05).to(dtype)


def test_hypernet_is_deterministic_per_seed_and_keeps_its_projection_fixed():
    first, again, other = _source(3), _source(3), _source(4)
    assert torch.equal(first(), again()) and torch.equal(first.projection, again.projection)
    assert not torch.allclose(first(), other())
    trainable = {name for name, p in first.named_parameters() if p.requires_grad}
    assert "projection" not in trainable and "theta" in trainable
    assert "projection" in first.state_dict(), "the projection is saved, so a loaded run generates the same weights"


def test_hypernet_is_differentiable_in_theta_and_the_mapping():
    source = _source(0, shape=(3, 2, 2, 2), dtype=torch.float64)  # fan_in 8: 3 qubits, 8 states
    theta = source.theta.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: functional_call(source, {"theta": t}, ()), (theta,))
    source().square().sum().backward()
    assert source.theta.grad.abs().sum() > 0 and source.mapping.gain.grad.abs().sum() > 0


def test_hypernet_starts_with_porter_thomas_spread_and_the_layers_init_statistics():
    source = _source(1, shape=(64, 128, 3, 3))  # fan_in 1152: 11 qubits
    probs = source.probabilities()
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(64))
    # 2**n·p of a random circuit (Porter-Thomas) has std 1; the projection's scale gives the softmax the same spread
    assert (probs * 2**source.num_qubits).std().item() == pytest.approx(1.0, rel=0.1)
    weight = source().detach()
    assert weight.mean().item() == pytest.approx(0.0, abs=1e-3)
    assert weight.std().item() == pytest.approx(0.05, rel=0.02)


def test_hypernet_model_exports_to_plain_layers_and_reloads_the_same_weights():
    torch.manual_seed(0)
    model = Tiny().eval()
    apply_hypernet(model, "decoder", AnsatzSpec(reps=1))
    plain = export_plain(model)
    assert all(type(m) is nn.Conv2d for m in plain.decoder)
    x = torch.randn(2, 1, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(plain.decoder(model.encoder(x)), model.decoder(model.encoder(x)))
    torch.manual_seed(99)  # another seed draws another projection; loading the state must bring the saved one
    fresh = Tiny().eval()
    apply_hypernet(fresh, "decoder", AnsatzSpec(reps=1))
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh.decoder[0].source(), model.decoder[0].source())


def test_training_config_builds_hypernet_layers_trained_like_qpgs():
    config = TrainConfig.from_flat({"qpg_layers": "decoder.blocks.4.*", "generator": "hypernet", "reps": 1,
                                    "classes": "background,tumor"})
    model, report = build_training_model(config)
    assert report["kind"] == "hypernet" and config.weights.method == "hypernet-affine"
    groups = {g["name"]: g for g in parameter_groups(model, config)}
    thetas = {id(layer.source.theta) for _, layer in generated_layers(model)}
    assert thetas <= {id(p) for p in groups["qpg"]["params"]} and groups["qpg"]["weight_decay"] == 0.0
    product = TrainConfig.from_flat({"entanglement": "none"})
    assert product.weights.method == "qpg-affine-product"


@pytest.mark.parametrize("option, value", [("shots", 1024), ("backend", "aer_simulator"), ("noise", "fake_brisbane")])
def test_hypernet_refuses_circuit_options_in_one_line(option, value):
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_flat({"generator": "hypernet", option: value}, source={"generator": "--generator"})
    assert str(caught.value) == ("--generator: hypernet runs no circuits; leave --backend torch and --shots, --noise "
                                 "unset")


def test_hypernet_builds_without_qiskit():
    code = ("import sys, torch; from helpers import Tiny; from hqctf_qiskit.hypernet import apply_hypernet; "
            "from hqctf_qiskit.circuits.ansatz import AnsatzSpec; m = Tiny(); apply_hypernet(m, 'decoder', "
            "AnsatzSpec(reps=1)); m.decoder(m.encoder(torch.randn(1, 1, 8, 8))).sum().backward(); "
            "bad = sorted(k for k in sys.modules if k.split('.')[0].startswith('qiskit')); print(bad); "
            "sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[1])  # tests/, where helpers.py is
    assert result.returncode == 0, result.stdout + result.stderr

