"""The low-rank baseline in training, rank diagnostics in the run folder, and the experiment runner on a tiny grid."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from hqctf_qiskit.cli.main import main
from hqctf_qiskit.config import ConfigError, TrainConfig
from hqctf_qiskit.experiments.grid import ExperimentSpec, run_experiment

pytestmark = pytest.mark.slow

TINY = {"patch_size": 32, "epochs": 1, "samples_per_epoch": 8, "batch_size": 4, "reps": 1, "device": "cpu"}


def test_lowrank_run_logs_ranks_and_matches_the_qpg_budget(tmp_path, tiny_phantom):
    out = tmp_path / "lowrank"
    args = ["train", "--data", str(tiny_phantom), "--out", str(out), "--qpg-layers", "none",
            "--lowrank-layers", "decoder.blocks.3.*", "--rank-budget", "qpg", "--patch-size", "32",
            "--samples-per-epoch", "8", "--batch-size", "4", "--epochs", "2", "--device", "cpu"]
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None)
    report = json.loads((out / "lowrank_report.json").read_text())
    qpg_budget = TrainConfig.from_flat({"lowrank_layers": "decoder.blocks.3.*", "rank_budget": "qpg",
                                        "qpg_layers": "none"})
    from hqctf_qiskit.training.modeling import lowrank_budget

    budget = lowrank_budget(qpg_budget)
    assert 0.8 * budget <= report["totals"]["params"] <= budget, "low-rank factors fill the QPG budget"
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    rank_columns = [k for k in rows[0] if k.startswith("entropy_rank/")]
    assert len(rank_columns) == 2
    assert (out / "rank.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lowrank"]["trainable"] < summary["lowrank"]["classical_trainable"]


def test_lowrank_needs_a_rank_or_budget():
    with pytest.raises(ConfigError, match="^--lowrank-layers: give exactly one"):
        TrainConfig.from_flat({"lowrank_layers": "decoder"}, source={"lowrank_layers": "--lowrank-layers"})


def test_experiment_runner_on_a_tiny_grid_resumes(tmp_path, tiny_phantom):
    spec_file = tmp_path / "exp.yaml"
    spec_file.write_text(yaml.safe_dump({
        "name": "tiny", "out": str(tmp_path / "exp"), "data": str(tiny_phantom), "layers": "decoder.blocks.4.*",
        "architectures": ["unet"], "methods": ["classical", "qpg-affine"], "seeds": [0], "evaluate_split": "val",
        "train": TINY,
    }))
    spec = ExperimentSpec.from_yaml(spec_file)
    result = run_experiment(spec)
    root = tmp_path / "exp"
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert [r["method"] for r in rows] == ["classical", "qpg-affine"]
    assert int(rows[1]["trainable_params"]) < int(rows[0]["trainable_params"])
    summary_table = (root / "results.md").read_text().split("## Paired")[0]
    assert summary_table.count("| unet |") == 2
    assert (root / "results.png").is_file() and result["runs"] == 2
    splits = json.loads((root / "splits.json").read_text())
    for method in ("classical", "qpg-affine"):
        run = root / "unet" / method / "seed0"
        assert json.loads((run / "splits.json").read_text()) == splits, "every run uses the experiment's split"

    stamp = (root / "unet" / "classical" / "seed0" / "checkpoint_final.pt").stat().st_mtime_ns
    run_experiment(ExperimentSpec.from_yaml(spec_file))  # finished runs are skipped
    assert (root / "unet" / "classical" / "seed0" / "checkpoint_final.pt").stat().st_mtime_ns == stamp
