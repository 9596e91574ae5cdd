"""Surface-distance metrics in mm (HD95, ASSD, NSD) and volume difference: MONAI's numbers, with spacing, and the
empty-mask rules."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice
from scipy.ndimage import gaussian_filter

from hqctf_qiskit.data import CaseVolume
from hqctf_qiskit.evaluation.evaluate import evaluate_model, metric_names
from hqctf_qiskit.evaluation.metrics import case_surface_metrics
from hqctf_qiskit.evaluation.surface import SURFACE_METRICS, surface_metrics

CLASSES = ["background", "kidney", "tumor"]
pytestmark = pytest.mark.filterwarnings("ignore:.*always_return_as_numpy:FutureWarning")  # MONAI, called here
SPACING = (0.7, 0.9, 3.0)  # thick slices: anisotropic as CT is


def blob(seed: int, shape=(40, 36, 14)) -> np.ndarray:
    """A random smooth 3D blob (smoothed noise above a threshold)."""
    noise = np.random.default_rng(seed).standard_normal(shape)
    smooth = gaussian_filter(noise, sigma=(4, 4, 1.5))
    return smooth > np.quantile(smooth, 0.8)


def monai_direct(pred: np.ndarray, ref: np.ndarray, spacing, tolerance: float) -> dict[str, float]:
    p, r = torch.from_numpy(pred)[None, None], torch.from_numpy(ref)[None, None]
    return {
        "hd95": float(compute_hausdorff_distance(p, r, include_background=True, percentile=95, spacing=list(spacing))),
        "assd": float(compute_average_surface_distance(p, r, include_background=True, symmetric=True,
                                                       spacing=list(spacing))),
        "nsd": float(compute_surface_dice(p, r, [tolerance], include_background=True, spacing=list(spacing))),
    }


def test_identical_masks_have_zero_distance_and_full_surface_dice():
    mask = blob(0)
    values = surface_metrics(mask, mask, SPACING)
    assert values["hd95"] == 0.0 and values["assd"] == 0.0 and values["nsd"] == 1.0
    assert values["voldiff_ml"] == 0.0 and values["voldiff_rel"] == 0.0


def test_a_one_slice_shift_along_z_is_the_slice_spacing_in_mm():
    ref = np.zeros((12, 12, 8), bool)
    ref[2:10, 2:10, 3:5] = True  # a 2-slice slab: every voxel is on its surface
    pred = np.roll(ref, 1, axis=2)  # one slice = 3 mm up
    values = surface_metrics(pred, ref, (0.8, 0.8, 3.0))
    assert values["hd95"] == pytest.approx(3.0, abs=1e-9)
    assert values["nsd"] == pytest.approx(monai_direct(pred, ref, (0.8, 0.8, 3.0), 2.0)["nsd"], abs=1e-9)
    assert values["nsd"] < 1.0  # the shifted half is 3 mm away, beyond the 2 mm tolerance
    assert surface_metrics(pred, ref, (0.8, 0.8, 3.0), nsd_tolerance_mm=3.5)["nsd"] == 1.0


@pytest.mark.parametrize("seeds", [(1, 2), (3, 4), (5, 6)])
@pytest.mark.parametrize("tolerance", [2.0, 1.0])
def test_equal_to_monai_called_directly_with_anisotropic_spacing(seeds, tolerance):
    pred, ref = blob(seeds[0]), blob(seeds[1])
    ours = surface_metrics(pred, ref, SPACING, nsd_tolerance_mm=tolerance)
    reference = monai_direct(pred, ref, SPACING, tolerance)
    for key, value in reference.items():
        assert math.isfinite(value) and ours[key] == pytest.approx(value, abs=1e-6), key
    assert ours["hd95"] > 0 and 0 < ours["nsd"] < 1
    padded = [np.pad(m, ((9, 2), (0, 5), (3, 0))) for m in (pred, ref)]  # the blobs inside a bigger scan
    assert surface_metrics(*padded, SPACING, nsd_tolerance_mm=tolerance) == pytest.approx(ours, abs=1e-6)
    # the spacing matters: the same voxels on an isotropic grid are other distances
    assert surface_metrics(pred, ref, (1.0, 1.0, 1.0))["hd95"] != pytest.approx(ours["hd95"], abs=1e-3)


def test_volume_difference_is_prediction_minus_reference_in_ml():
    ref = np.zeros((20, 20, 10), bool)
    ref[:10, :10, :5] = True  # 500 voxels
    pred = np.zeros_like(ref)
    pred[:10, :10, :8] = True  # 800 voxels
    values = surface_metrics(pred, ref, (0.5, 0.5, 2.0))  # 0.5 mm³ per voxel
    assert values["voldiff_ml"] == pytest.approx(300 * 0.5 / 1000)
    assert values["voldiff_rel"] == pytest.approx(0.6)


def test_empty_masks_follow_the_documented_rule():
    empty, mask = np.zeros((10, 10, 6), bool), blob(7, (10, 10, 6))
    both = surface_metrics(empty, empty, SPACING)
    assert all(math.isnan(both[k]) for k in ("hd95", "assd", "nsd", "voldiff_rel")) and both["voldiff_ml"] == 0.0
    missed = surface_metrics(empty, mask, SPACING)  # nothing predicted
    assert math.isnan(missed["hd95"]) and math.isnan(missed["assd"]) and missed["nsd"] == 0.0
    assert missed["voldiff_rel"] == -1.0 and missed["voldiff_ml"] < 0
    spurious = surface_metrics(mask, empty, SPACING)  # something predicted, nothing there
    assert math.isnan(spurious["hd95"]) and math.isnan(spurious["assd"]) and spurious["nsd"] == 0.0
    assert math.isnan(spurious["voldiff_rel"]) and spurious["voldiff_ml"] > 0


def test_case_metrics_per_class_and_region_and_nan_for_an_absent_class():
    ref = np.zeros((16, 16, 6), np.uint8)
    ref[2:10, 2:10, 1:5] = 1
    ref[4:6, 4:6, 2:4] = 2
    pred = ref.copy()
    pred[12:14, 12:14, 2:3] = 2  # a spurious tumour far away
    values = case_surface_metrics(pred, ref, CLASSES, SPACING)
    assert set(values) == {f"{m}_{t}" for m in SURFACE_METRICS
                           for t in ("kidney", "tumor", "region_kidney+tumor", "region_tumor")}
    assert values["hd95_kidney"] == 0.0 and values["nsd_kidney"] == 1.0
    assert values["hd95_tumor"] > 0 and values["nsd_tumor"] < 1
    unscored = case_surface_metrics(pred, ref, CLASSES, SPACING, absent=(2,))
    assert unscored["nsd_kidney"] == 1.0
    for key in (f"{m}_{t}" for m in SURFACE_METRICS for t in ("tumor", "region_tumor", "region_kidney+tumor")):
        assert math.isnan(unscored[key]), key


def test_evaluate_writes_surface_metrics_with_sd_and_the_implementation(tmp_path):
    label = np.zeros((16, 16, 4), np.uint8)
    label[:, :, 1:3] = 2  # the model below predicts tumour everywhere
    cases = [CaseVolume(case_id=f"c{i}", image=np.zeros(label.shape, np.float32), label=label, affine=np.eye(4),
                        spacing=(0.8, 0.8, 3.0 * (i + 1)), image_path=Path(f"c{i}.nii.gz"), label_path=None)
             for i in range(2)]

    class TumourEverywhere(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = torch.zeros(x.shape[0], 3, *x.shape[2:])
            logits[:, 2] = 10.0
            return logits

    meta = {"classes": CLASSES, "window": [-100, 200], "patch_size": 16}
    summary = evaluate_model(TumourEverywhere(), cases, meta, torch.device("cpu"), tmp_path, overlays=0,
                             nsd_tolerance_mm=1.0)
    rows = list(csv.DictReader((tmp_path / "per_case.csv").open()))
    assert list(rows[0]) == ["case_id", *metric_names(CLASSES)]
    # prediction: slices 0..3, reference 1..2 -> the outer slices are one slice spacing away
    assert [float(r["hd95_tumor"]) for r in rows] == pytest.approx([3.0, 6.0])
    assert all(math.isnan(float(r["hd95_kidney"])) and float(r["voldiff_ml_kidney"]) == 0.0 for r in rows)
    assert summary["mean"]["hd95_tumor"] == pytest.approx(4.5)
    assert summary["sd"]["hd95_tumor"] == pytest.approx(math.sqrt(4.5))
    assert summary["sd"]["dice_tumor"] == 0.0 and summary["nsd_tolerance_mm"] == 1.0
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["metrics_implementation"]["monai"] == __import__("monai").__version__
    assert "NSD is 0" in written["nan_policy"]


@pytest.mark.parametrize("tolerance", ["0", "-1", "nan"])
def test_a_bad_nsd_tolerance_is_one_line_and_exit_2(capsys, tolerance):
    from hqctf_qiskit.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "no-such-run", "--nsd-tolerance", tolerance])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error: --nsd-tolerance: must be a positive number of mm")
    assert len(err.splitlines()) == 1
