"""The two controls train and evaluate in a tiny grid with patient folds: QPG-affine's parameter count, the runs'
reports, every fold validating on its own patients against the same test patients, and the paired table."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from hqctf_qiskit.experiments.grid import ExperimentSpec, run_experiment

pytestmark = pytest.mark.slow

TINY = {"patch_size": 32, "epochs": 1, "samples_per_epoch": 8, "batch_size": 4, "reps": 1, "device": "cpu",
        "workers": 0}
METHODS = ["classical", "qpg-affine", "qpg-affine-product", "hypernet-affine"]


def test_controls_train_in_a_folded_grid_with_qpgs_budget(tmp_path, tiny_phantom):
    spec_file = tmp_path / "exp.yaml"
    spec_file.write_text(yaml.safe_dump({
        "name": "controls", "out": str(tmp_path / "exp"), "data": str(tiny_phantom), "layers": "decoder.blocks.4.*",
        "architectures": ["unet"], "methods": METHODS, "seeds": [0], "folds": 2, "train": TINY,
    }))
    result = run_experiment(ExperimentSpec.from_yaml(spec_file))
    root = tmp_path / "exp"
    assert result["runs"] == len(METHODS) * 2
    shared = json.loads((root / "splits.json").read_text())
    for fold in (0, 1):
        for method in METHODS:
            run = root / "unet" / method / f"seed0-fold{fold}"
            splits = json.loads((run / "splits.json").read_text())
            assert splits["val"] == shared["folds"][fold] and splits["test"] == shared["test"]
        assert (root / "unet" / "hypernet-affine" / f"seed0-fold{fold}" / "hypernet_report.json").is_file()
        assert (root / "unet" / "qpg-affine-product" / f"seed0-fold{fold}" / "qpg_report.json").is_file()
    product_report = json.loads((root / "unet" / "qpg-affine-product" / "seed0-fold0" / "qpg_report.json").read_text())
    assert product_report["ansatz"]["entanglement"] == "none"

    rows = {r["method"]: r for r in csv.DictReader((root / "results.csv").open())}
    budget = rows["qpg-affine"]["trainable_params"]
    assert rows["qpg-affine-product"]["trainable_params"] == budget == rows["hypernet-affine"]["trainable_params"]
    assert int(budget) < int(rows["classical"]["trainable_params"])
    for method in METHODS[1:]:  # (case, fold) pairs: one test patient, whose kidneys every fold's model scores
        assert int(rows[method]["kidney_dice_vs_classical_pairs"]) == len(shared["test"]) * 2
    assert "## Paired against classical" in (root / "results.md").read_text()
