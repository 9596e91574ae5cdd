"""results.png: per foreground class, Dice bars (mean ± sd over the runs) and each method's paired Dice difference
from the classical model with its bootstrap CI (a bar whose CI crosses 0 is not distinguishable from noise)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..io import save_figure


def _zero_if_nan(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def plot_results(rows: list[dict[str, Any]], classes: list[str], path: Path, reference: str) -> None:
    import numpy as np
    from matplotlib.figure import Figure  # pyplot-free: no global backend is chosen

    archs = list(dict.fromkeys(r["architecture"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    compared = [m for m in methods if m != reference]
    by_cell = {(r["architecture"], r["method"]): r for r in rows}
    colour = {method: f"C{i % 10}" for i, method in enumerate(methods)}  # one colour per method in both panels
    x = np.arange(len(archs))
    fig = Figure(figsize=(12, 4 * len(classes)))
    axes = fig.subplots(len(classes), 2, squeeze=False)
    for (bars, diffs), cls in zip(axes, classes):
        width = 0.8 / len(methods)
        for i, method in enumerate(methods):
            sel = [by_cell[a, method] for a in archs]
            bars.bar(x + i * width, [_zero_if_nan(r[f"{cls}_dice_mean"]) for r in sel], width,
                     yerr=[_zero_if_nan(r[f"{cls}_dice_sd"]) for r in sel], capsize=2, label=method,
                     color=colour[method])
        bars.set_xticks(x + width * (len(methods) - 1) / 2, archs, rotation=20)
        bars.set(title=f"{cls} Dice (mean ± sd over runs)", ylim=(0, 1))
        bars.legend(fontsize=7)
        prefix = f"{cls}_dice_vs_{reference}"
        width = 0.8 / max(len(compared), 1)
        for i, method in enumerate(compared):
            sel = [by_cell[a, method] for a in archs]
            mean = np.array([_zero_if_nan(r[f"{prefix}_diff"]) for r in sel])
            low = np.array([r[f"{prefix}_ci_low"] for r in sel], dtype=float)
            high = np.array([r[f"{prefix}_ci_high"] for r in sel], dtype=float)
            errors = np.nan_to_num(np.stack([mean - low, high - mean]), nan=0.0)
            diffs.bar(x + i * width, mean, width, yerr=errors, capsize=2, label=method, color=colour[method])
        diffs.axhline(0.0, color="black", linewidth=0.8)
        diffs.set_xticks(x + width * (len(compared) - 1) / 2, archs, rotation=20)
        diffs.set(title=f"{cls} Dice − {reference} (paired, bootstrap 95% CI)")
        if compared:
            diffs.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
