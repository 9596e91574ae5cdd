"""``hqctf evaluate`` on a tiny trained run: per-case metrics, summary and overlays in the evaluation's own folder."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from helpers import hqctf

pytestmark = pytest.mark.slow


def test_evaluate_writes_per_case_metrics_and_overlays(tmp_path, tiny_run):
    run = shutil.copytree(tiny_run, tmp_path / "run")  # never change the session's run in place
    result = hqctf("evaluate", str(run), "--split", "all")
    assert "dice_kidney" in result.stdout
    results = run / "eval" / "all-best"
    assert f"wrote {results}" in result.stdout
    summary = json.loads((results / "summary.json").read_text())
    assert summary["cases"] == 4 and "dice_region_kidney+tumor" in summary["mean"]
    assert summary["split"] == "all" and summary["checkpoint"] == "best"
    rows = list(csv.DictReader((results / "per_case.csv").open()))
    assert len(rows) == 4 and all(0.0 <= float(r["dice_kidney"]) <= 1.0 for r in rows)
    assert len(list(results.glob("overlay_*.png"))) == 3
    assert sorted(p.name for p in (run / "eval").iterdir()) == ["all-best"]

