"""Effective rank of generated weights: the paper's "no fixed-rank restriction" claim made measurable.

For each QPG or low-rank layer the ``[C_out, fan_in]`` weight matrix gets two effective ranks: how many singular
values exceed 1% of the largest (a threshold rank, robust to float noise), and the entropy rank of Roy & Vetterli
(2007), ``exp(H(p))`` with ``p_k = σ_k / Σσ`` — continuous, so gradual spectrum changes during training show up.
A low-rank layer of rank r can never exceed r in either; a QPG layer is not restricted that way.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io import save_figure
from ..weightgen.export import generated_layers

log = logging.getLogger(__name__)

THRESHOLD = 0.01
METRICS = ("rank_1pct", "entropy_rank", "max_rank")


def effective_ranks(weight: torch.Tensor) -> dict[str, float]:
    """``rank_1pct``, ``entropy_rank`` and ``max_rank = min(C_out, fan_in)`` of ``weight`` read as ``[C_out, fan_in]``.

    Computed in float64 on the CPU. A zero matrix has both ranks 0; a non-finite one (a diverged run) gets NaN
    instead of an exception, so logging never stops training.
    """
    matrix = weight.detach().reshape(weight.shape[0], -1).to("cpu", torch.float64)
    max_rank = min(matrix.shape)
    if not torch.isfinite(matrix).all():
        return {"rank_1pct": math.nan, "entropy_rank": math.nan, "max_rank": max_rank}
    singular = torch.linalg.svdvals(matrix)
    if singular.numel() == 0 or singular[0] <= 0:
        return {"rank_1pct": 0, "entropy_rank": 0.0, "max_rank": max_rank}
    p = singular / singular.sum()
    p = p[p > 0]
    entropy = -(p * p.log()).sum()
    return {
        "rank_1pct": int((singular > THRESHOLD * singular[0]).sum()),
        "entropy_rank": float(entropy.exp()),
        "max_rank": max_rank,
    }


@torch.no_grad()
def layer_ranks(model: nn.Module) -> dict[str, dict[str, float]]:
    """``effective_ranks`` of every QPG and low-rank layer's current weight, by module name.

    Empty for a classical model. Call it outside autocast, so the weights are generated in full precision.
    """
    return {name: effective_ranks(module.generated_weight()) for name, module in generated_layers(model)}


def flatten_ranks(ranks: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """One flat row for metrics.csv: ``{"entropy_rank/<layer>": …, "rank_1pct/<layer>": …, "max_rank/<layer>": …}``.

    The ``metric/layer`` keys make TensorBoard group the layers of one metric in one section.
    """
    return {f"{metric}/{layer}": values[metric] for layer, values in ranks.items() for metric in METRICS}


def _series(history: Sequence[Mapping[str, Any]], metric: str) -> dict[str, tuple[list[float], list[float]]]:
    """Per layer: (epochs, effective rank / max rank) over the history rows that have both values."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for index, row in enumerate(history):
        flat = flatten_ranks(row["ranks"]) if "ranks" in row else row
        epoch = float(row.get("epoch", index))
        for key, value in flat.items():
            if not key.startswith(f"{metric}/"):
                continue
            layer = key.split("/", 1)[1]
            max_rank = flat.get(f"max_rank/{layer}")
            if value is None or not max_rank or math.isnan(float(value)) or math.isnan(float(max_rank)):
                continue
            epochs, values = series.setdefault(layer, ([], []))
            epochs.append(epoch)
            values.append(float(value) / float(max_rank))
    return series


def plot_ranks(history: Sequence[Mapping[str, Any]], path: str | Path) -> Path | None:
    """Write ``rank.png``: each layer's effective ranks over epochs, as a fraction of its maximum rank.

    ``history`` rows are either flat (``epoch`` plus ``flatten_ranks`` keys, as in metrics.csv) or
    ``{"epoch": e, "ranks": layer_ranks(model)}``. Normalizing by ``min(C_out, fan_in)`` puts a 3-channel head and a
    256-channel conv on one axis. Written atomically (temp file + rename), so a reader never sees half a PNG.
    Returns the path, or None (nothing written) when the history has no rank values, e.g. a classical run.
    """
    entropy, threshold = _series(history, "entropy_rank"), _series(history, "rank_1pct")
    if not entropy and not threshold:
        log.debug("no rank values in the history: %s not written", path)
        return None
    from matplotlib import colormaps
    from matplotlib.figure import Figure  # pyplot-free: no global backend is chosen

    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    layers = list(dict.fromkeys([*entropy, *threshold]))
    colors = colormaps["tab20"].colors  # 20 distinct colours, then the line style changes
    styles = {layer: (colors[i % 20], ("-", "--", ":")[i // 20 % 3]) for i, layer in enumerate(layers)}
    fig = Figure(figsize=(12, 4.5))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, series, title in (
        (axes[0], entropy, "entropy rank (Roy & Vetterli)"), (axes[1], threshold, "rank: σ > 1% of σ_max"),
    ):
        for layer, (epochs, values) in series.items():
            color, style = styles[layer]
            ax.plot(epochs, values, style, color=color, marker="o", markersize=3, linewidth=1, label=layer)
        ax.set(xlabel="epoch", title=title, ylim=(0, 1.05))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("effective rank / min(C_out, fan_in)")
    axes[1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), ncol=1 + len(layers) // 25)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90, bbox_inches="tight")
