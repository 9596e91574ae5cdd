"""Overlay PNGs: a CT slice with the reference (green) and predicted (red) contours per foreground class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import CaseVolume
from ..data.preprocessing import window_and_scale
from ..io import save_figure


def save_overlay(case: CaseVolume, pred: np.ndarray, path: Path, window: tuple[float, float]) -> None:
    """The axial slice with the most reference foreground (or predicted, if the reference is empty)."""
    ref = case.label if case.label is not None else np.zeros_like(pred)
    area = (ref > 0).sum(axis=(0, 1)) if (ref > 0).any() else (pred > 0).sum(axis=(0, 1))
    z = int(np.argmax(area))
    image = window_and_scale(case.image[:, :, z], window)
    from matplotlib.figure import Figure  # pyplot-free: no global backend is chosen

    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    # canonical RAS [X, Y]: transpose so rows are anterior-posterior and flip for a radiological-like view
    ax.imshow(np.flipud(image.T), cmap="gray", vmin=0, vmax=1)
    for mask, colour in ((ref, "lime"), (pred, "red")):
        for label in np.unique(mask[:, :, z]):
            if label == 0:
                continue
            ax.contour(np.flipud((mask[:, :, z] == label).T.astype(float)), levels=[0.5], colors=colour,
                       linewidths=1.0, linestyles="solid" if label == 1 else "dashed")
    ax.set_title(f"{case.case_id} z={z}  reference: green, prediction: red (dashed: class ≥ 2)", fontsize=8)
    ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
