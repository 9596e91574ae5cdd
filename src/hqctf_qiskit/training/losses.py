"""Dice + cross-entropy, the standard loss for organ and tumor segmentation (nnU-Net's default pairing)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DiceCELoss(nn.Module):
    """``CE + (1 − mean soft Dice over foreground classes)``; Dice is computed over the whole batch.

    Batch Dice keeps the loss defined on slices without foreground (common in CT) instead of rewarding empty
    predictions per slice.
    """

    def __init__(self, num_classes: int, smooth: float = 1e-5) -> None:
        super().__init__()
        self.num_classes, self.smooth = num_classes, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        ce = F.cross_entropy(logits, target)
        probs = logits.softmax(dim=1)[:, 1:]
        onehot = F.one_hot(target, self.num_classes).permute(0, 3, 1, 2).to(probs.dtype)[:, 1:]
        dims = (0, 2, 3)
        intersection = (probs * onehot).sum(dims)
        denominator = probs.sum(dims) + onehot.sum(dims)
        dice = (2 * intersection + self.smooth) / (denominator + self.smooth)
        return ce + (1 - dice.mean())
