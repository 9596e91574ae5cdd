"""An experiment's results: one row per (architecture, method) with test Dice/IoU, HD95 (mm) and surface Dice (NSD)
as mean ± sd over seeds (each seed's value is its mean over the test cases),
written as results.csv, results.json, results.md (the table) and results.png (bars with error bars)."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..evaluation.outputs import evaluation_dir
from ..io import atomic_write_json, atomic_write_text, save_figure, write_csv

if TYPE_CHECKING:
    from .grid import ExperimentSpec

REPORTED = [(cls, metric) for cls in ("kidney", "tumor") for metric in ("dice", "iou", "hd95", "nsd")]
HEADINGS = {"dice": "Dice", "iou": "IoU", "hd95": "HD95 (mm)", "nsd": "NSD"}


def run_dir_of(root: Path, arch: str, method: str, seed: int) -> Path:
    """Where one grid cell's run folder lives in the experiment folder."""
    return root / arch / method / f"seed{seed}"


def evaluation_of(run_dir: Path, spec: ExperimentSpec) -> Path:
    """The results folder of a grid cell's evaluation: the spec's split, the best checkpoint."""
    return evaluation_dir(run_dir, spec.evaluate_split, "best")


def _mean_sd(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0


def collect_results(spec: ExperimentSpec, root: Path) -> list[dict[str, Any]]:
    """One row per (architecture, method): trainable params, test metrics mean ± sd over seeds, s per epoch; a
    metric an evaluation lacks (one written before it existed) counts as NaN."""
    rows = []
    for arch in spec.architectures:
        for method in spec.methods:
            runs = [run_dir_of(root, arch, method, s) for s in spec.seeds]
            evals = [json.loads((evaluation_of(r, spec) / "summary.json").read_text())["mean"] for r in runs]
            summaries = [json.loads((r / "summary.json").read_text()) for r in runs]
            row: dict[str, Any] = {"architecture": arch, "method": method, "seeds": len(runs),
                                   "trainable_params": summaries[0]["trainable_params"]}
            for cls, metric in REPORTED:
                mean, sd = _mean_sd([e.get(f"{metric}_{cls}", math.nan) for e in evals])
                row[f"{cls}_{metric}_mean"], row[f"{cls}_{metric}_sd"] = mean, sd
            epoch_times = [float(r["epoch_seconds"]) for r in _metrics(runs)]
            row["seconds_per_epoch"] = statistics.fmean(epoch_times) if epoch_times else math.nan
            rows.append(row)
    return rows


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
    plot_results(rows, root / "results.png")


def _pm(row: dict[str, Any], key: str) -> str:
    mean, sd = row[f"{key}_mean"], row[f"{key}_sd"]
    return "n/a" if math.isnan(mean) else f"{mean:.3f} ± {sd:.3f}"


def results_markdown(rows: list[dict[str, Any]], spec: ExperimentSpec) -> str:
    lines = [
        f"# {spec.name}: classical vs low-rank vs QPG",
        "",
        f"Test split (3D per case), mean ± sd over seeds {spec.seeds}; replaced layers: `{spec.layers}`; "
        f"low-rank rank chosen to match the QPG (affine) trainable budget of those layers.",
        "",
        "| architecture | method | trainable params | "
        + " | ".join(f"{cls} {HEADINGS[metric]}" for cls, metric in REPORTED) + " | s/epoch |",
        "|---|---|---:|" + "---|" * len(REPORTED) + "---:|",
    ]
    for r in rows:
        cells = " | ".join(_pm(r, f"{cls}_{metric}") for cls, metric in REPORTED)
        lines.append(f"| {r['architecture']} | {r['method']} | {r['trainable_params']:,} | {cells} | "
                     f"{r['seconds_per_epoch']:.1f} |")
    lines += ["", "NaN policy: a case whose prediction and reference are both empty for a class is skipped (NaN); "
              "HD95 is also NaN (skipped) where only one of them is empty, where NSD is 0. NSD at the evaluation's "
              "tolerance (`nsd_tolerance_mm` in each summary.json, default 2 mm).", ""]
    return "\n".join(lines)


def plot_results(rows: list[dict[str, Any]], path: Path) -> None:
    import numpy as np
    from matplotlib.figure import Figure  # pyplot-free: no global backend is chosen

    archs = list(dict.fromkeys(r["architecture"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    width = 0.8 / len(methods)
    fig = Figure(figsize=(12, 4))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, cls in zip(axes, ("kidney", "tumor")):
        for i, method in enumerate(methods):
            sel = [next(r for r in rows if r["architecture"] == a and r["method"] == method) for a in archs]
            means = [0.0 if math.isnan(r[f"{cls}_dice_mean"]) else r[f"{cls}_dice_mean"] for r in sel]
            sds = [0.0 if math.isnan(r[f"{cls}_dice_sd"]) else r[f"{cls}_dice_sd"] for r in sel]
            ax.bar(np.arange(len(archs)) + i * width, means, width, yerr=sds, capsize=2, label=method)
        ax.set_xticks(np.arange(len(archs)) + width * (len(methods) - 1) / 2, archs, rotation=20)
        ax.set(title=f"{cls} Dice (test, mean ± sd over seeds)", ylim=(0, 1))
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
