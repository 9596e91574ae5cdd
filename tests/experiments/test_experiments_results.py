"""An experiment's results from its run folders: mean ± sd over runs (NaN skipped), the paired comparison with
classical over (case, seed[, fold]) pairs (scipy on the same pairs), CSV/markdown/JSON/PNG."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy.stats import bootstrap, wilcoxon

from hqctf_qiskit.evaluation.metrics import nanmean
from hqctf_qiskit.evaluation.outputs import evaluation_dir
from hqctf_qiskit.experiments.grid import ExperimentSpec
from hqctf_qiskit.experiments.results import collect_results, results_markdown, run_dir_of, write_results

CASES = ["case_a", "case_b", "case_c"]


def write_run(root, arch, method, seed, cases, params=1000, epoch_seconds=(2.0, 4.0), fold=None):
    """The files a finished, evaluated grid cell leaves behind (what collect_results reads); ``cases``: case id ->
    {metric_class: value}, the per_case.csv rows, whose means make the evaluation summary as evaluate writes it."""
    run = run_dir_of(root, arch, method, seed, fold)
    evaluation = evaluation_dir(run, "test", "best")  # the spec's evaluate_split (default test), best checkpoint
    evaluation.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"trainable_params": params}))
    names = list(next(iter(cases.values())))
    with (evaluation / "per_case.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["case_id", *names])
        writer.writeheader()
        writer.writerows({"case_id": case, **values} for case, values in cases.items())
    mean = {name: nanmean([values[name] for values in cases.values()]) for name in names}
    (evaluation / "summary.json").write_text(json.dumps({"mean": mean}))
    with (run / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["epoch", "epoch_seconds"])
        writer.writeheader()
        writer.writerows({"epoch": i, "epoch_seconds": s} for i, s in enumerate(epoch_seconds, 1))


def kits_case(kidney: float, tumor: float) -> dict[str, float]:
    return {"dice_kidney": kidney, "iou_kidney": kidney / 2, "hd95_kidney": 10 * (1 - kidney),
            "nsd_kidney": kidney + 0.1, "dice_tumor": tumor, "iou_tumor": tumor / 2, "hd95_tumor": math.nan,
            "nsd_tumor": tumor}


def test_rows_summarise_seeds_and_skip_nan(tmp_path):
    spec = ExperimentSpec(name="demo", architectures=["unet"], methods=["classical", "qpg-affine"], seeds=[0, 1])
    write_run(tmp_path, "unet", "classical", 0, {"c": kits_case(0.8, math.nan)})
    write_run(tmp_path, "unet", "classical", 1, {"c": kits_case(0.6, math.nan)})
    write_run(tmp_path, "unet", "qpg-affine", 0, {"c": kits_case(0.7, 0.5)}, params=400)
    write_run(tmp_path, "unet", "qpg-affine", 1, {"c": kits_case(0.7, 0.3)}, params=400)
    rows = collect_results(spec, tmp_path)
    classical, qpg = rows
    assert classical["kidney_dice_mean"] == pytest.approx(0.7)
    assert classical["kidney_dice_sd"] == pytest.approx(0.1414, rel=1e-3)
    assert math.isnan(classical["tumor_dice_mean"]), "a class empty in every case has no mean"
    assert qpg["tumor_dice_mean"] == pytest.approx(0.4) and qpg["trainable_params"] == 400 and qpg["runs"] == 2
    assert classical["seconds_per_epoch"] == pytest.approx(3.0)
    assert classical["kidney_hd95_mean"] == pytest.approx(3.0) and classical["kidney_hd95_sd"] == pytest.approx(1.414,
                                                                                                               rel=1e-3)
    assert qpg["kidney_nsd_mean"] == pytest.approx(0.8) and qpg["kidney_nsd_sd"] == 0.0
    assert math.isnan(qpg["tumor_hd95_mean"])
    assert qpg["tumor_dice_vs_classical_pairs"] == 0, "classical's tumour Dice is NaN in every pair"
    assert qpg["kidney_dice_vs_classical_pairs"] == 2

    table = results_markdown(rows, spec)
    assert "| unet | classical | 1,000 | 2 | 0.700 ± 0.141 |" in table and "n/a" in table
    assert "| kidney HD95 (mm) | kidney NSD |" in table and "| 3.000 ± 1.414 | 0.800 ± 0.141 |" in table
    write_results(rows, tmp_path, spec)
    assert [r["method"] for r in csv.DictReader((tmp_path / "results.csv").open())] == ["classical", "qpg-affine"]
    assert json.loads((tmp_path / "results.json").read_text())[1]["method"] == "qpg-affine"
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_paired_comparison_over_case_seed_fold_pairs_is_scipy_on_those_pairs(tmp_path):
    """STS-like classes (one foreground class), 2 seeds × 2 folds × 3 cases; one method clearly better, one noise."""
    spec = ExperimentSpec(name="sts", architectures=["unet"], seeds=[0, 1], folds=2,
                          methods=["classical", "hypernet-affine", "qpg-affine"])
    rng = np.random.default_rng(11)
    pairs: dict[str, list[tuple[float, float]]] = {"hypernet-affine": [], "qpg-affine": []}
    for seed in spec.seeds:
        for fold in range(2):
            reference = rng.uniform(0.3, 0.6, 3)
            noisy = reference + rng.normal(0, 0.1, 3)
            better = reference + 0.2 + rng.normal(0, 0.01, 3)
            better[1] = math.nan  # a NaN case: its pair is dropped
            for method, values in (("classical", reference), ("hypernet-affine", noisy), ("qpg-affine", better)):
                write_run(tmp_path, "unet", method, seed, {c: {"dice_tumor": v, "iou_tumor": v / 2,
                                                               "hd95_tumor": 5.0, "nsd_tumor": v}
                                                           for c, v in zip(CASES, values)}, fold=fold)
                if method != "classical":
                    pairs[method] += list(zip(values, reference))
    rows = {r["method"]: r for r in collect_results(spec, tmp_path)}
    for method, expected_pairs in (("hypernet-affine", 12), ("qpg-affine", 8)):
        a, b = np.array(pairs[method]).T
        keep = np.isfinite(a)
        d = a[keep] - b[keep]
        ci = bootstrap((d,), np.mean, confidence_level=0.95, n_resamples=9_999,
                       rng=np.random.default_rng(0)).confidence_interval
        row = rows[method]
        assert row["tumor_dice_vs_classical_pairs"] == expected_pairs
        assert row["tumor_dice_vs_classical_diff"] == pytest.approx(d.mean())
        assert row["tumor_dice_vs_classical_p"] == pytest.approx(wilcoxon(d, zero_method="pratt").pvalue)
        assert (row["tumor_dice_vs_classical_ci_low"], row["tumor_dice_vs_classical_ci_high"]) == pytest.approx(
            (ci.low, ci.high))
    assert rows["qpg-affine"]["tumor_dice_vs_classical_verdict"] == "higher"
    assert rows["hypernet-affine"]["tumor_dice_vs_classical_verdict"] == "not distinguishable"
    assert rows["qpg-affine"]["tumor_hd95_vs_classical_p"] == 1.0, "all HD95 differences are 0"
    assert rows["qpg-affine"]["runs"] == 4 and "kidney_dice_mean" not in rows["qpg-affine"]

    table = results_markdown(list(rows.values()), spec)
    hypernet_dice = next(line for line in table.splitlines() if line.startswith("| unet | hypernet-affine | tumor "
                                                                               "Dice |"))
    assert hypernet_dice.endswith("| not distinguishable |") and "| 12 |" in hypernet_dice
    assert "seeds [0, 1] × 2 folds" in table and "(case, seed, fold) pairs" in table
    write_results(list(rows.values()), tmp_path, spec)
    written = {r["method"]: r for r in csv.DictReader((tmp_path / "results.csv").open())}
    assert written["qpg-affine"]["tumor_dice_vs_classical_verdict"] == "higher"
