"""``hqctf evaluate --cv``: the runs must be folds of one experiment; mean ± sd over folds equal the statistics of
the per-run summaries."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from hqctf_qiskit.config.files import save_config
from hqctf_qiskit.config.schema import TrainConfig
from hqctf_qiskit.data.splits import make_fold_splits, save_splits
from hqctf_qiskit.errors import ConfigError
from hqctf_qiskit.evaluation.crossval import check_fold_runs, fold_statistics

from helpers import TINY_TRAIN_ARGS, hqctf_here

IDS = [f"case_{i:05d}" for i in range(10)]


def _fake_run(root: Path, name: str, fold: int, seed: int = 0, splits_seed: int = 0, **options) -> Path:
    """A run folder's config.yaml and splits.json (all that the checks read)."""
    run = root / name
    run.mkdir()
    config = TrainConfig.from_flat({"folds": 3, "fold": fold, "seed": seed, "out": str(run), **options})
    save_config(config, run / "config.yaml")
    save_splits(make_fold_splits(IDS, splits_seed, 3, fold), run / "splits.json")
    return run


def test_fold_statistics_are_mean_and_sample_sd_over_folds() -> None:
    means = [{"dice_kidney": 0.8, "hd95_kidney": 3.0}, {"dice_kidney": 0.6, "hd95_kidney": math.nan},
             {"dice_kidney": 0.7, "hd95_kidney": 5.0}]
    stats = fold_statistics(means)
    assert stats["dice_kidney"]["mean"] == pytest.approx(statistics.mean([0.8, 0.6, 0.7]), abs=1e-12)
    assert stats["dice_kidney"]["sd"] == pytest.approx(statistics.stdev([0.8, 0.6, 0.7]), abs=1e-12)
    assert stats["hd95_kidney"] == {"mean": 4.0, "sd": pytest.approx(statistics.stdev([3.0, 5.0])), "folds": 2}


def test_folds_of_one_experiment_pass(tmp_path: Path) -> None:
    runs = [_fake_run(tmp_path, f"f{k}", k) for k in (2, 0, 1)]
    assert check_fold_runs(runs) == [2, 0, 1]


@pytest.mark.parametrize(
    ("odd", "message"),
    [
        ({"seed": 5}, "its options differ from .* in seed"),
        ({"lr": 0.5}, "its options differ from .* in lr"),
        ({"splits_seed": 4}, "its test cases differ|its folds differ"),
        ({"fold": 0}, "fold 0 is given twice"),
    ],
)
def test_runs_of_different_experiments_are_refused(tmp_path: Path, odd: dict, message: str) -> None:
    first = _fake_run(tmp_path, "f0", 0)
    options = {"fold": 1, **odd}
    second = _fake_run(tmp_path, "f1", **options)
    with pytest.raises(ConfigError, match=message) as excinfo:
        check_fold_runs([first, second])
    assert "\n" not in str(excinfo.value)


def test_one_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least two runs"):
        check_fold_runs([_fake_run(tmp_path, "f0", 0)])


@pytest.mark.slow
def test_cv_summary_equals_statistics_of_the_fold_evaluations(tmp_path: Path, tiny_phantom: Path) -> None:
    runs = []
    for fold in (0, 1):
        run = tmp_path / f"fold{fold}"
        hqctf_here("train", "--data", str(tiny_phantom), "--out", str(run), "--folds", "2", "--fold", str(fold),
                   *TINY_TRAIN_ARGS)
        runs.append(run)
    splits = [json.loads((r / "splits.json").read_text()) for r in runs]
    assert splits[0]["folds"] == splits[1]["folds"] and splits[0]["test"] == splits[1]["test"]
    assert sorted(splits[0]["val"] + splits[1]["val"]) == sorted(c for f in splits[0]["folds"] for c in f)

    out = tmp_path / "cv"
    result = hqctf_here("evaluate", "--cv", *map(str, runs), "--out", str(out))
    assert "dice_kidney" in result.stdout and f"wrote {out}" in result.stdout
    per_run = [json.loads((r / "eval" / "val-best" / "summary.json").read_text())["mean"] for r in runs]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["folds"] == [0, 1]
    for name, stats in summary["metrics"].items():
        values = [m[name] for m in per_run if not math.isnan(m[name])]
        if not values:
            assert math.isnan(stats["mean"])
            continue
        assert stats["mean"] == pytest.approx(statistics.mean(values), abs=1e-9)
        expected_sd = statistics.stdev(values) if len(values) > 1 else 0.0
        assert stats["sd"] == pytest.approx(expected_sd, abs=1e-9)
    assert len((out / "per_fold.csv").read_text().splitlines()) == 3

    again = hqctf_here("evaluate", "--cv", *map(str, runs), "--out", str(out), check=False)
    assert again.returncode == 2 and again.stderr.strip().startswith("error: ")
