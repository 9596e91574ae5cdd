"""An experiment's results from its run folders: mean ± sd over seeds (NaN skipped), CSV/markdown/JSON/PNG."""

from __future__ import annotations

import csv
import json
import math

import pytest

from hqctf_qiskit.evaluation.outputs import evaluation_dir
from hqctf_qiskit.experiments.grid import ExperimentSpec
from hqctf_qiskit.experiments.results import collect_results, results_markdown, run_dir_of, write_results


def write_run(root, arch, method, seed, kidney_dice, tumor_dice, params=1000, epoch_seconds=(2.0, 4.0)):
    """The files a finished, evaluated grid cell leaves behind (what collect_results reads)."""
    run = run_dir_of(root, arch, method, seed)
    evaluation = evaluation_dir(run, "test", "best")  # the spec's evaluate_split (default test), best checkpoint
    evaluation.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"trainable_params": params}))
    mean = {"dice_kidney": kidney_dice, "iou_kidney": kidney_dice / 2, "dice_tumor": tumor_dice,
            "iou_tumor": tumor_dice / 2, "hd95_kidney": 10 * (1 - kidney_dice), "nsd_kidney": kidney_dice + 0.1,
            "hd95_tumor": math.nan, "nsd_tumor": tumor_dice}
    (evaluation / "summary.json").write_text(json.dumps({"mean": mean}))
    with (run / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["epoch", "epoch_seconds"])
        writer.writeheader()
        writer.writerows({"epoch": i, "epoch_seconds": s} for i, s in enumerate(epoch_seconds, 1))


def test_rows_summarise_seeds_and_skip_nan(tmp_path):
    spec = ExperimentSpec(name="demo", architectures=["unet"], methods=["classical", "qpg-affine"], seeds=[0, 1])
    write_run(tmp_path, "unet", "classical", 0, 0.8, math.nan)
    write_run(tmp_path, "unet", "classical", 1, 0.6, math.nan)
    write_run(tmp_path, "unet", "qpg-affine", 0, 0.7, 0.5, params=400)
    write_run(tmp_path, "unet", "qpg-affine", 1, 0.7, 0.3, params=400)
    rows = collect_results(spec, tmp_path)
    classical, qpg = rows
    assert classical["kidney_dice_mean"] == pytest.approx(0.7)
    assert classical["kidney_dice_sd"] == pytest.approx(0.1414, rel=1e-3)
    assert math.isnan(classical["tumor_dice_mean"]), "a class empty in every case has no mean"
    assert qpg["tumor_dice_mean"] == pytest.approx(0.4) and qpg["trainable_params"] == 400
    assert classical["seconds_per_epoch"] == pytest.approx(3.0)
    assert classical["kidney_hd95_mean"] == pytest.approx(3.0) and classical["kidney_hd95_sd"] == pytest.approx(1.414,
                                                                                                               rel=1e-3)
    assert qpg["kidney_nsd_mean"] == pytest.approx(0.8) and qpg["kidney_nsd_sd"] == 0.0
    assert math.isnan(qpg["tumor_hd95_mean"])

    table = results_markdown(rows, spec)
    assert "| unet | classical | 1,000 | 0.700 ± 0.141 |" in table and "n/a" in table
    assert "| kidney HD95 (mm) | kidney NSD |" in table and "| 3.000 ± 1.414 | 0.800 ± 0.141 |" in table
    write_results(rows, tmp_path, spec)
    assert [r["method"] for r in csv.DictReader((tmp_path / "results.csv").open())] == ["classical", "qpg-affine"]
    assert json.loads((tmp_path / "results.json").read_text())[1]["method"] == "qpg-affine"
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"
