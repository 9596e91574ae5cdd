"""A class an RTSTRUCT case has no structure for is NaN in that case (not a Dice of 0), and the summary says so."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hqctf_qiskit.data import CaseVolume
from hqctf_qiskit.evaluation.evaluate import evaluate_model
from hqctf_qiskit.evaluation.metrics import case_metrics

CLASSES = ["background", "kidney", "tumor"]


def test_an_absent_class_and_its_regions_are_nan_whatever_was_predicted():
    ref = np.zeros((4, 4, 2), np.uint8)
    ref[:2] = 1  # kidney drawn; no tumour structure in this patient
    pred = ref.copy()
    pred[3, 3, :] = 2  # a tumour predicted where nothing was drawn: 0 if scored, but it cannot be scored
    scored = case_metrics(pred, ref, CLASSES)
    assert scored["dice_tumor"] == 0.0 and scored["dice_kidney"] == 1.0
    unscored = case_metrics(pred, ref, CLASSES, absent=(2,))
    assert unscored["dice_kidney"] == 1.0 and unscored["iou_kidney"] == 1.0
    for key in ("dice_tumor", "iou_tumor", "dice_region_tumor", "iou_region_tumor", "dice_region_kidney+tumor"):
        assert math.isnan(unscored[key]), key


class Constant(nn.Module):
    """Predicts ``label`` everywhere (logits of 10 for it, 0 for the others)."""

    def __init__(self, label: int, classes: int = 3) -> None:
        super().__init__()
        self.label, self.classes = label, classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], self.classes, *x.shape[2:])
        logits[:, self.label] = 10.0
        return logits


def case(case_id: str, label: np.ndarray, absent: tuple[int, ...]) -> CaseVolume:
    return CaseVolume(case_id=case_id, image=np.zeros(label.shape, np.float32), label=label, affine=np.eye(4),
                      spacing=(1.0, 1.0, 1.0), image_path=Path(f"{case_id}/CT"), label_path=Path(f"{case_id}/RS.dcm"),
                      absent_classes=absent)


def test_evaluate_gives_nan_for_the_absent_class_and_the_mean_skips_it(tmp_path):
    shape = (8, 8, 2)
    kidney_everywhere = np.ones(shape, np.uint8)
    cases = [case("drawn", np.full(shape, 2, np.uint8), ()), case("tumour_missing", kidney_everywhere, (2,))]
    meta = {"classes": CLASSES, "window": [-100, 200], "patch_size": 8}
    summary = evaluate_model(Constant(2), cases, meta, torch.device("cpu"), tmp_path, overlays=0)
    rows = {r["case_id"]: r for r in csv.DictReader((tmp_path / "per_case.csv").open())}
    assert float(rows["drawn"]["dice_tumor"]) == 1.0
    assert math.isnan(float(rows["tumour_missing"]["dice_tumor"])), "not drawn: NaN, not 0"
    assert float(rows["tumour_missing"]["dice_kidney"]) == 0.0, "kidney was drawn and missed: 0"
    assert summary["mean"]["dice_tumor"] == 1.0
    written = json.loads((tmp_path / "summary.json").read_text())
    assert "does not cover" in written["nan_policy"] and "RTSTRUCT" in written["nan_policy"]
