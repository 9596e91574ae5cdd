"""The experiment spec file: validated keys with one-line errors, and each grid cell's config built by the schema."""

from __future__ import annotations

import pytest
import yaml

from hqctf_qiskit.config import ConfigError
from hqctf_qiskit.data.dicom import structure_map
from hqctf_qiskit.experiments.grid import METHODS, SMALL_PRESET, Cell, ExperimentSpec
from hqctf_qiskit.experiments.results import run_dir_of

from helpers import REPO_ROOT, SHARED_DATA

STS_EXAMPLE = REPO_ROOT / "examples" / "sts_comparison.yaml"


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
        ("folds: 1\n", "folds: must be >= 2, got 1"),
        ("small: [unet]\n", "small: must be a mapping of spec keys"),
        ("small: {colour: red}\n", "small: colour: unknown option; choose from architectures,"),
        ("methods: [hypernet-affine]\ntrain: {shots: 100}\n",
         "layers (method hypernet-affine): hypernet runs no circuits"),
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
    assert (lowrank.model.arch, lowrank.optim.seed, lowrank.data.patch_size, lowrank.optim.lr) == ("fpn", 2, 32, 0.01)
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


def test_every_method_is_the_config_that_names_it(tmp_path):
    spec = ExperimentSpec(layers="decoder.blocks.4.*", methods=list(METHODS))
    for method in METHODS:
        weights = spec.run_config("unet", method, 0, tmp_path).weights
        assert weights.method == method
    product = spec.run_config("unet", "qpg-affine-product", 0, tmp_path).weights
    hypernet = spec.run_config("unet", "hypernet-affine", 0, tmp_path).weights
    assert (product.qpg_layers, product.mapping, product.entanglement, product.generator) == (
        "decoder.blocks.4.*", "affine", "none", "quantum")
    assert (hypernet.qpg_layers, hypernet.mapping, hypernet.generator) == ("decoder.blocks.4.*", "affine", "hypernet")


def test_folds_run_every_cell_once_per_fold_on_the_shared_split(tmp_path):
    spec = ExperimentSpec(architectures=["unet", "fpn"], methods=["classical", "qpg-affine"], seeds=[0, 1], folds=3)
    cells = spec.cells()
    assert len(cells) == 2 * 2 * 2 * 3 and len(set(cells)) == len(cells)
    assert cells[:3] == [Cell("unet", "classical", 0, fold) for fold in range(3)]
    config = spec.cell_config(Cell("fpn", "qpg-affine", 1, 2), tmp_path / "cell", tmp_path / "splits.json")
    assert (config.data.folds, config.data.fold, config.data.splits) == (3, 2, str(tmp_path / "splits.json"))
    split = spec.split_config(tmp_path)
    assert (split.data.folds, split.data.fold, split.optim.seed) == (3, 0, spec.split_seed)
    assert Cell("fpn", "qpg-affine", 1, 2).name == "fpn/qpg-affine/seed1-fold2"
    assert run_dir_of(tmp_path, *Cell("fpn", "qpg-affine", 1)) == tmp_path / "fpn" / "qpg-affine" / "seed1"
    assert ExperimentSpec(seeds=[4]).cells()[0].fold is None


def test_a_specs_small_block_replaces_the_builtin_preset(tmp_path, monkeypatch):
    monkeypatch.setenv("HQCTF_RUNS", str(tmp_path / "runs"))
    spec_file = tmp_path / "exp.yaml"
    spec_file.write_text(yaml.safe_dump({
        "name": "p", "folds": 3, "architectures": ["fpn"], "train": {"image-size": 128, "epochs": 50},
        "small": {"architectures": ["unet"], "folds": None, "train": {"patch_size": 32}},
    }))
    full, small = ExperimentSpec.from_yaml(spec_file), ExperimentSpec.from_yaml(spec_file, small=True)
    assert (full.architectures, full.folds, full.seeds) == (["fpn"], 3, [0, 1, 2])
    assert (small.architectures, small.folds) == (["unet"], None)
    # an old spelling in the spec and the new one in the block are one option: the block's value wins
    assert small.train == {"patch_size": 32, "epochs": 50}
    assert small.run_config("unet", "classical", 0, tmp_path).data.patch_size == 32
    # the small grid's cells must never be mistaken for the full grid's finished ones
    assert full.out == str(tmp_path / "runs" / "experiments" / "p")
    assert small.out == str(tmp_path / "runs" / "experiments" / "p-small")


def test_sts_example_is_the_issue_grid_and_its_small_preset_fits_the_cpu_budget():
    full, small = ExperimentSpec.from_yaml(STS_EXAMPLE), ExperimentSpec.from_yaml(STS_EXAMPLE, small=True)
    assert full.architectures == ["unet", "unetplusplus", "deeplabv3plus", "fpn", "pspnet"]
    assert full.methods == list(METHODS) and full.seeds == [0, 1, 2] and full.folds == 3
    assert len(full.cells()) == 5 * 7 * 3 * 3
    assert {"unet", "unetplusplus"} <= set(small.architectures) and small.methods == list(METHODS)
    assert len(small.seeds) >= 3 and len(small.cells()) == 42
    config = small.run_config("unet", "hypernet-affine", 0, STS_EXAMPLE.parent)
    assert config.data.classes == ["background", "tumor"] and config.data.augment == "default"
    assert (REPO_ROOT / full.data).resolve() == (SHARED_DATA / "sts-ct-rtstruct").resolve()


@pytest.mark.skipif(not (SHARED_DATA / "sts-ct-rtstruct").is_dir(), reason="shared STS data absent")
def test_sts_example_structures_map_every_patients_gtv_to_tumor():
    import pydicom

    config = ExperimentSpec.from_yaml(STS_EXAMPLE).run_config("unet", "classical", 0, STS_EXAMPLE.parent, fold=0)
    rules = structure_map(config.data.structures, config.data.classes)
    for rtstruct in sorted((SHARED_DATA / "sts-ct-rtstruct").glob("STS_*/CT/mask/*.dcm")):
        names = [roi.ROIName for roi in pydicom.dcmread(rtstruct, stop_before_pixels=True).StructureSetROISequence]
        assert [rules.class_of(name) for name in names] == [1], (rtstruct, names)
