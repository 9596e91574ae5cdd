"""``hqctf experiment``: classical vs low-rank vs QPG (each mapping) over architectures and seeds, one patient split.

A grid of ordinary training runs (each a run folder of its own, resumable: finished runs are skipped), each then
evaluated on the shared test split in 3D per case, summarised as mean ± sd over seeds in results.csv/md/png.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import shutil
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..config.schema import ConfigError, TrainConfig, read_yaml_mapping
from ..io import atomic_write_json, atomic_write_text, save_figure, write_csv
from ..training.checkpoint import checkpoint_path
from ..training.datasetup import discover, resolve_splits, write_splits

log = logging.getLogger(__name__)

METHODS = ("classical", "lowrank", "qpg-affine", "qpg-qt", "qpg-chunked")
SMALL_PRESET: dict[str, Any] = {
    "architectures": ["unet", "unetplusplus", "deeplabv3plus", "fpn", "pspnet"],
    "methods": list(METHODS),
    "seeds": [0, 1, 2],
    "train": {"image_size": 64, "epochs": 6, "samples_per_epoch": 96, "batch_size": 8, "reps": 1, "lr": 3e-3},
}
REPORTED = [("kidney", "dice"), ("kidney", "iou"), ("tumor", "dice"), ("tumor", "iou")]


@dataclass
class ExperimentSpec:
    name: str = "experiment"
    out: str | None = None
    data: str | None = None
    layers: str = "decoder"
    architectures: list[str] = field(default_factory=lambda: list(SMALL_PRESET["architectures"]))
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    split_seed: int = 0
    evaluate_split: str = "test"
    train: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: Path, small: bool = False) -> "ExperimentSpec":
        path = Path(path)
        data = read_yaml_mapping(path, "", "name, architectures, methods, seeds, train, ...")
        if small:
            data = {**data, **{k: v for k, v in SMALL_PRESET.items() if k != "train"},
                    "train": {**data.get("train", {}), **SMALL_PRESET["train"]}}
        known = {f.name for f in cls.__dataclass_fields__.values()}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"{path}: unknown experiment key(s) {', '.join(sorted(unknown))}")
        spec = cls(**data)
        spec.out = spec.out or str(Path("runs") / "experiments" / spec.name)
        spec.validate(path)
        return spec

    def validate(self, source: Path) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ConfigError(f"{source}: unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
        if not self.seeds or not self.architectures or not self.methods:
            raise ConfigError(f"{source}: architectures, methods and seeds must not be empty")
        for arch in self.architectures:  # fail before hours of training, not in the middle
            self.run_config(arch, self.methods[0], self.seeds[0], Path("."))

    def run_config(self, arch: str, method: str, seed: int, run_dir: Path, splits: Path | None = None) -> TrainConfig:
        """The TrainConfig of one grid cell: the shared options, then the method's switches."""
        train = {str(k).replace("-", "_"): v for k, v in self.train.items()}
        values: dict[str, Any] = {**TrainConfig().to_dict(), **train, "arch": arch, "seed": seed,
                                  "data": self.data, "out": str(run_dir),
                                  "splits": str(splits) if splits else None}
        if method == "classical":
            values.update(qpg_layers="none", lowrank_layers="none")
        elif method == "lowrank":
            values.update(qpg_layers="none", lowrank_layers=self.layers, rank_budget="qpg")
        else:
            values.update(qpg_layers=self.layers, lowrank_layers="none", mapping=method.split("-", 1)[1])
        return TrainConfig.from_dict(values, source="experiment")


def _run_dir(root: Path, arch: str, method: str, seed: int) -> Path:
    return root / arch / method / f"seed{seed}"


def _prepare_run(run_dir: Path) -> str:
    """'done' (skip), 'resume' (latest checkpoint), or 'new' (an interrupted run without checkpoint starts over)."""
    if (run_dir / "summary.json").is_file() and checkpoint_path(run_dir, "final").is_file():
        return "done"
    if checkpoint_path(run_dir, "latest").is_file():
        return "resume"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # nothing resumable was written: no checkpoint, so nothing is lost
    return "new"


def run_experiment(spec: ExperimentSpec) -> dict[str, Any]:
    from ..evaluation.evaluate import evaluate_run
    from ..training.loop import train

    root = Path(spec.out)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "experiment.yaml", yaml.safe_dump(spec.__dict__, sort_keys=False))
    splits_file = root / "splits.json"
    if not splits_file.is_file():
        base = replace(spec.run_config(spec.architectures[0], "classical", spec.split_seed, root), splits=None)
        write_splits(resolve_splits(base, discover(base), None), root)
    cells = [(a, m, s) for a in spec.architectures for m in spec.methods for s in spec.seeds]
    started = time.perf_counter()
    for index, (arch, method, seed) in enumerate(cells, 1):
        run_dir = _run_dir(root, arch, method, seed)
        status = _prepare_run(run_dir)
        log.info("[%d/%d] %s %s seed %d: %s", index, len(cells), arch, method, seed,
                 {"done": "finished, skipped", "resume": "resuming", "new": "training"}[status])
        if status == "new":
            train(spec.run_config(arch, method, seed, run_dir, splits_file))
        elif status == "resume":
            train(None, resume=run_dir)
        if not (run_dir / "eval" / "summary.json").is_file():
            evaluate_run(run_dir, split=spec.evaluate_split, device="auto")
    results = collect_results(spec, root)
    write_results(results, root, spec)
    log.info("experiment %s: %d runs in %.0f s", spec.name, len(cells), time.perf_counter() - started)
    return {"out": str(root), "runs": len(cells), "rows": results}


def _mean_sd(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0


def collect_results(spec: ExperimentSpec, root: Path) -> list[dict[str, Any]]:
    """One row per (architecture, method): trainable params, test Dice/IoU mean ± sd over seeds, s per epoch."""
    rows = []
    for arch in spec.architectures:
        for method in spec.methods:
            runs = [_run_dir(root, arch, method, s) for s in spec.seeds]
            evals = [json.loads((r / "eval" / "summary.json").read_text())["mean"] for r in runs]
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
        rows.extend(csv.DictReader((run / "metrics.csv").open()))
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
        "| architecture | method | trainable params | kidney Dice | kidney IoU | tumor Dice | tumor IoU | s/epoch |",
        "|---|---|---:|---|---|---|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['architecture']} | {r['method']} | {r['trainable_params']:,} | {_pm(r, 'kidney_dice')} | "
            f"{_pm(r, 'kidney_iou')} | {_pm(r, 'tumor_dice')} | {_pm(r, 'tumor_iou')} | {r['seconds_per_epoch']:.1f} |"
        )
    lines += ["", "NaN policy: a case whose prediction and reference are both empty for a class is skipped (NaN).", ""]
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
