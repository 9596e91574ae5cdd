"""``hqctf evaluate`` on a tiny trained run: per-case metrics, summary and overlays."""

from __future__ import annotations

import csv
import json

import pytest

from helpers import hqctf

pytestmark = pytest.mark.slow


def test_evaluate_writes_per_case_metrics_and_overlays(tiny_run):
    result = hqctf("evaluate", str(tiny_run), "--split", "all")
    assert "dice_kidney" in result.stdout
    summary = json.loads((tiny_run / "eval" / "summary.json").read_text())
    assert summary["cases"] == 4 and "dice_region_kidney+tumor" in summary["mean"]
    rows = list(csv.DictReader((tiny_run / "eval" / "per_case.csv").open()))
    assert len(rows) == 4 and all(0.0 <= float(r["dice_kidney"]) <= 1.0 for r in rows)
    assert len(list((tiny_run / "eval").glob("overlay_*.png"))) == 3
