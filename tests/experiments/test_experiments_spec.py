"""The experiment spec file: validated keys with one-line errors, and each grid cell's config built by the schema."""

from __future__ import annotations

import pytest
import yaml

from hqctf_qiskit.config import ConfigError
from hqctf_qiskit.experiments.grid import SMALL_PRESET, ExperimentSpec


@pytest.mark.parametrize(
    "text, message",
    [
        ("methods: [classical, quantum-magic]\n", "methods: unknown method(s) quantum-magic; choose from classical,"),
        ("seeds: [0, one]\n", "seeds: must be a whole number, got 'one'"),
        ("seeds: []\n", "seeds: must not be empty"),
        ("evaluate_split: holdout\n", "evaluate_split: unknown split 'holdout'"),
        ("colour: red\n", "colour: unknown option"),
        ("train: {epochs: 1.5}\n", "train: epochs: must be a whole number, got 1.5"),
        ("train: {reps: -1}\n", "train: reps: must be >= 0, got -1"),
        ("train: {rank: 3}\nmethods: [lowrank]\n", "layers (method lowrank): give exactly one of --rank N"),
        ("architectures: [vnet]\n", "architectures: unknown value 'vnet'"),
    ],
)
def test_experiment_spec_errors_name_the_file_and_key(tmp_path, text, message):
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        ExperimentSpec.from_yaml(spec_file)
    assert str(caught.value).startswith(f"{spec_file}: {message}"), str(caught.value)


def test_grid_cells_switch_methods_through_the_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("HQCTF_RUNS", str(tmp_path / "runs"))
    spec_file = tmp_path / "exp.yaml"
    spec_file.write_text("name: demo\nlayers: decoder.blocks.4.*\ntrain: {image-size: 32, lr: '0.01'}\n")
    spec = ExperimentSpec.from_yaml(spec_file)
    assert spec.out == str(tmp_path / "runs" / "experiments" / "demo")
    lowrank = spec.run_config("fpn", "lowrank", 2, tmp_path / "cell")
    assert (lowrank.model.arch, lowrank.optim.seed, lowrank.data.image_size, lowrank.optim.lr) == ("fpn", 2, 32, 0.01)
    assert (lowrank.weights.qpg_layers, lowrank.weights.lowrank_layers, lowrank.weights.rank_budget) == (
        "none", "decoder.blocks.4.*", "qpg")
    chunked = spec.run_config("unet", "qpg-chunked", 0, tmp_path / "cell")
    assert (chunked.weights.qpg_layers, chunked.weights.mapping) == ("decoder.blocks.4.*", "chunked")
    assert spec.run_config("unet", "classical", 0, tmp_path).weights.has_qpg is False


def test_small_preset_overrides_the_grid_and_the_shared_options(tmp_path):
    spec_file = tmp_path / "exp.yaml"
    spec_file.write_text(yaml.safe_dump({"name": "p", "out": str(tmp_path / "out"), "seeds": [9],
                                         "train": {"epochs": 50, "encoder": "resnet34"}}))
    spec = ExperimentSpec.from_yaml(spec_file, small=True)
    assert spec.seeds == SMALL_PRESET["seeds"] and spec.out == str(tmp_path / "out")
    assert spec.train["epochs"] == SMALL_PRESET["train"]["epochs"] and spec.train["encoder"] == "resnet34"
    assert yaml.safe_load(spec.to_yaml())["name"] == "p"
