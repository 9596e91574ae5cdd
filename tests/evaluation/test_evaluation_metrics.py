import math

import numpy as np
import torch

from hqctf_qiskit.training.losses import DiceCELoss
from hqctf_qiskit.evaluation.metrics import OverlapAccumulator, case_metrics, kits_regions, nanmean, overlap


def test_overlap_values_and_nan_policy():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert all(math.isnan(v) for v in overlap(a, b))  # both empty -> NaN
    b[0, :2] = True
    assert overlap(a, b) == (0.0, 0.0)  # reference only -> 0
    a[0, :] = True  # 4 predicted, 2 reference, 2 shared
    dice, iou = overlap(a, b)
    assert dice == 2 * 2 / 6 and iou == 2 / 4


def test_kits_regions_and_case_metrics():
    names = ["background", "kidney", "tumor"]
    assert kits_regions(names) == {"kidney+tumor": [1, 2], "tumor": [2]}
    assert kits_regions(["background", "kidney"]) == {}
    ref = np.array([[0, 1, 1, 2]])
    pred = np.array([[0, 1, 2, 2]])
    m = case_metrics(pred, ref, names)
    assert m["dice_kidney"] == 2 / 3 and m["dice_tumor"] == 2 / 3
    assert m["dice_region_kidney+tumor"] == 1.0 and m["dice_region_tumor"] == m["dice_tumor"]


def test_nanmean_skips_nan():
    assert nanmean([1.0, math.nan, 0.5]) == 0.75
    assert math.isnan(nanmean([math.nan]))


def test_accumulator_equals_direct_dice_over_all_batches():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, 8, 8, generator=gen)
    target = torch.randint(0, 3, (6, 8, 8), generator=gen)
    acc = OverlapAccumulator(3)
    acc.update(logits[:3], target[:3])
    acc.update(logits[3:], target[3:])
    pred = logits.argmax(1).numpy()
    for c, dice in zip((1, 2), acc.dice()):
        assert dice == overlap(pred == c, target.numpy() == c)[0]


def test_dice_ce_loss_is_low_for_a_perfect_prediction_and_differentiable():
    target = torch.randint(0, 3, (2, 8, 8), generator=torch.Generator().manual_seed(1))
    perfect = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 20
    loss_fn = DiceCELoss(3)
    assert loss_fn(perfect, target).item() < 1e-3
    logits = torch.zeros(2, 3, 8, 8, requires_grad=True)
    loss = loss_fn(logits, target)
    loss.backward()
    assert loss.item() > 1.0 and logits.grad.abs().sum() > 0
