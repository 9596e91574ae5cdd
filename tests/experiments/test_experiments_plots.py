"""results.png: a method keeps one colour in the Dice panel and in the paired-difference panel."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hqctf_qiskit.experiments import plots


def _row(arch: str, method: str, dice: float) -> dict:
    row = {"architecture": arch, "method": method, "tumor_dice_mean": dice, "tumor_dice_sd": 0.05}
    if method != "classical":
        row.update({"tumor_dice_vs_classical_diff": dice - 0.5, "tumor_dice_vs_classical_ci_low": dice - 0.6,
                    "tumor_dice_vs_classical_ci_high": math.nan})
    return row


def test_each_method_has_one_colour_in_both_panels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda figure, path, **kwargs: figures.append(figure))
    methods = ["classical", "lowrank", "qpg-affine"]
    rows = [_row(arch, m, 0.3 + 0.1 * i) for arch in ("unet", "fpn") for i, m in enumerate(methods)]
    plots.plot_results(rows, ["tumor"], tmp_path / "results.png", reference="classical")
    bars, diffs = figures[0].axes

    def colours(axis) -> dict[str, tuple]:
        return {container.get_label(): container.patches[0].get_facecolor() for container in axis.containers
                if hasattr(container, "patches")}

    left, right = colours(bars), colours(diffs)
    assert set(left) == set(methods) and set(right) == {"lowrank", "qpg-affine"}
    assert right["lowrank"] == left["lowrank"] and right["qpg-affine"] == left["qpg-affine"]
    assert len(set(left.values())) == 3, "three methods, three colours"
