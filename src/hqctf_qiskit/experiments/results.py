"""An experiment's results: one row per (architecture, method) with trainable parameters, Dice/IoU, HD95 (mm) and
surface Dice (NSD) of every foreground class as mean ± sd over the grid cells (seeds, and folds: each cell's value is
its mean over the evaluated cases), and each method against the classical model of the same architecture paired
over (case, seed[, fold]) — Wilcoxon p-value and bootstrap 95% CI of the mean difference (:mod:`.stats`).

Written as results.csv, results.json, results.md (the tables) and results.png (Dice bars; differences with CIs).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..evaluation.outputs import evaluation_dir
from ..io import atomic_write_json, atomic_write_text, write_csv
from .plots import plot_results
from .stats import CONFIDENCE, NOT_DISTINGUISHABLE, paired_comparison

if TYPE_CHECKING:
    from .grid import ExperimentSpec

METRICS = ("dice", "iou", "hd95", "nsd")
HEADINGS = {"dice": "Dice", "iou": "IoU", "hd95": "HD95 (mm)", "nsd": "NSD"}
REFERENCE = "classical"  # what every other method is compared with, on the same architecture
BOOTSTRAP_SEED = 0
PAIRED_FIELDS = ("diff", "ci_low", "ci_high", "p", "pairs", "verdict")


def run_dir_of(root: Path, arch: str, method: str, seed: int, fold: int | None = None) -> Path:
    """Where one grid cell's run folder lives in the experiment folder (``seed<k>``, ``seed<k>-fold<f>``)."""
    return root / arch / method / (f"seed{seed}" if fold is None else f"seed{seed}-fold{fold}")


def evaluation_of(run_dir: Path, spec: ExperimentSpec) -> Path:
    """The results folder of a grid cell's evaluation: the spec's split, the best checkpoint."""
    return evaluation_dir(run_dir, spec.evaluate_split, "best")


def _mean_sd(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0


def foreground_classes(evaluation_mean: dict[str, float]) -> list[str]:
    """The classes an evaluation scored (``dice_<class>`` keys, KiTS regions left out), in its order."""
    return [key[len("dice_"):] for key in evaluation_mean
            if key.startswith("dice_") and not key.startswith("dice_region_")]


def _per_case(evaluation: Path) -> dict[str, dict[str, float]]:
    """``per_case.csv`` of an evaluation: case id → metric → value (NaN where undefined)."""
    with (evaluation / "per_case.csv").open(newline="") as handle:
        return {row.pop("case_id"): {k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)}


def paired_values(spec: ExperimentSpec, root: Path, arch: str, method: str, key: str) -> tuple[list[float],
                                                                                           list[float]]:
    """``key`` (e.g. ``dice_tumor``) of ``method`` and of the classical model on ``arch``, one pair per (case, seed,
    fold) that both evaluated, in grid order."""
    ours, theirs = [], []
    for cell in spec.cells():
        if (cell.arch, cell.method) != (arch, method):
            continue
        mine = _per_case(evaluation_of(run_dir_of(root, *cell), spec))
        reference = _per_case(evaluation_of(run_dir_of(root, arch, REFERENCE, cell.seed, cell.fold), spec))
        for case_id in mine:
            if case_id in reference:
                ours.append(mine[case_id].get(key, math.nan))
                theirs.append(reference[case_id].get(key, math.nan))
    return ours, theirs


def collect_results(spec: ExperimentSpec, root: Path) -> list[dict[str, Any]]:
    """One row per (architecture, method): trainable params, metrics mean ± sd over cells, s per epoch, and the
    paired comparison with classical (NaN for classical itself, or when classical is not in the grid); a metric an
    evaluation lacks (one written before it existed) counts as NaN."""
    rows = []
    for arch in spec.architectures:
        for method in spec.methods:
            cells = [c for c in spec.cells() if (c.arch, c.method) == (arch, method)]
            runs = [run_dir_of(root, *c) for c in cells]
            evals = [json.loads((evaluation_of(r, spec) / "summary.json").read_text())["mean"] for r in runs]
            summaries = [json.loads((r / "summary.json").read_text()) for r in runs]
            row: dict[str, Any] = {"architecture": arch, "method": method, "runs": len(runs),
                                   "trainable_params": summaries[0]["trainable_params"]}
            for cls in foreground_classes(evals[0]):
                for metric in METRICS:
                    mean, sd = _mean_sd([e.get(f"{metric}_{cls}", math.nan) for e in evals])
                    row[f"{cls}_{metric}_mean"], row[f"{cls}_{metric}_sd"] = mean, sd
                    row.update(_paired_columns(spec, root, arch, method, cls, metric))
            epoch_times = [float(r["epoch_seconds"]) for r in _metrics(runs)]
            row["seconds_per_epoch"] = statistics.fmean(epoch_times) if epoch_times else math.nan
            rows.append(row)
    return rows


def _paired_columns(spec: ExperimentSpec, root: Path, arch: str, method: str, cls: str, metric: str
                    ) -> dict[str, Any]:
    prefix = f"{cls}_{metric}_vs_{REFERENCE}"
    if method == REFERENCE or REFERENCE not in spec.methods:
        return {f"{prefix}_{field}": (0 if field == "pairs" else "" if field == "verdict" else math.nan)
                for field in PAIRED_FIELDS}
    comparison = paired_comparison(*paired_values(spec, root, arch, method, f"{metric}_{cls}"), seed=BOOTSTRAP_SEED)
    values = (comparison.mean_difference, comparison.ci_low, comparison.ci_high, comparison.p_value,
              comparison.pairs, comparison.verdict)
    return {f"{prefix}_{field}": value for field, value in zip(PAIRED_FIELDS, values)}


def _metrics(runs: list[Path]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for run in runs:
        with (run / "metrics.csv").open(newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def write_results(rows: list[dict[str, Any]], root: Path, spec: ExperimentSpec) -> None:
    write_csv(root / "results.csv", rows)
    atomic_write_text(root / "results.md", results_markdown(rows, spec))
    atomic_write_json(root / "results.json", rows)
    plot_results(rows, row_classes(rows[0]), root / "results.png", REFERENCE)


def row_classes(row: dict[str, Any]) -> list[str]:
    """The foreground classes a results row holds (``<class>_dice_mean`` columns), in order."""
    return [key[: -len("_dice_mean")] for key in row if key.endswith("_dice_mean")]


def _pm(row: dict[str, Any], key: str) -> str:
    mean, sd = row[f"{key}_mean"], row[f"{key}_sd"]
    return "n/a" if math.isnan(mean) else f"{mean:.3f} ± {sd:.3f}"


def _signed(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.3f}"


def _p(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _grid_text(spec: ExperimentSpec) -> str:
    folds = f" × {spec.folds} folds" if spec.folds else ""
    return f"seeds {spec.seeds}{folds}"


def results_markdown(rows: list[dict[str, Any]], spec: ExperimentSpec) -> str:
    classes = row_classes(rows[0]) if rows else []
    reported = [(cls, metric) for cls in classes for metric in METRICS]
    lines = [
        f"# {spec.name}: classical vs low-rank vs QPG (and the controls)",
        "",
        f"{spec.evaluate_split.capitalize()} split (3D per case), mean ± sd over the runs ({_grid_text(spec)}; each "
        f"run's value is its mean over the cases); replaced layers: `{spec.layers}`; low-rank rank chosen to match "
        "the QPG (affine) trainable budget of those layers; the controls `qpg-affine-product` (no entangling gates) "
        "and `hypernet-affine` (a classical generator) have QPG-affine's trainable parameters and mapping.",
        "",
        "| architecture | method | trainable params | runs | "
        + " | ".join(f"{cls} {HEADINGS[metric]}" for cls, metric in reported) + " | s/epoch |",
        "|---|---|---:|---:|" + "---|" * len(reported) + "---:|",
    ]
    for r in rows:
        cells = " | ".join(_pm(r, f"{cls}_{metric}") for cls, metric in reported)
        lines.append(f"| {r['architecture']} | {r['method']} | {r['trainable_params']:,} | {r['runs']} | {cells} | "
                     f"{r['seconds_per_epoch']:.1f} |")
    lines += ["", "NaN policy: a case whose prediction and reference are both empty for a class is skipped (NaN); "
              "HD95 is also NaN (skipped) where only one of them is empty, where NSD is 0. NSD at the evaluation's "
              "tolerance (`nsd_tolerance_mm` in each summary.json, default 2 mm).", ""]
    lines += _paired_markdown(rows, spec, reported)
    return "\n".join(lines)


def _paired_markdown(rows: list[dict[str, Any]], spec: ExperimentSpec, reported: list[tuple[str, str]]
                     ) -> list[str]:
    if REFERENCE not in spec.methods:
        return ["No paired comparisons: `classical` is not among the methods.", ""]
    level = f"{CONFIDENCE:.0%}"
    lines = [
        f"## Paired against {REFERENCE} (same architecture)",
        "",
        f"Difference = method − {REFERENCE}, over (case, seed{', fold' if spec.folds else ''}) pairs where both "
        f"values are defined. {level} CI: bootstrap (BCa, 9,999 resamples, seeded) of the mean difference; p: "
        "two-sided Wilcoxon signed-rank (Pratt's treatment of zero differences). "
        f"**{NOT_DISTINGUISHABLE}** = the CI covers 0. For HD95 lower is better. The pairs of one patient over "
        "seeds and folds are not independent: with few test patients these p-values and CIs are optimistic.",
        "",
        f"| architecture | method | metric | pairs | mean difference | {level} CI | Wilcoxon p | verdict |",
        "|---|---|---|---:|---:|---|---:|---|",
    ]
    for r in rows:
        if r["method"] == REFERENCE:
            continue
        for cls, metric in reported:
            prefix = f"{cls}_{metric}_vs_{REFERENCE}"
            ci = f"[{_signed(r[f'{prefix}_ci_low'])}, {_signed(r[f'{prefix}_ci_high'])}]"
            lines.append(f"| {r['architecture']} | {r['method']} | {cls} {HEADINGS[metric]} | {r[f'{prefix}_pairs']} "
                         f"| {_signed(r[f'{prefix}_diff'])} | {ci} | {_p(r[f'{prefix}_p'])} | "
                         f"{r[f'{prefix}_verdict']} |")
    return lines + [""]
