"""The network on resampled slices of any size: one pass on a patch-sized slice, else MONAI's sliding window.

Training sees ``patch_size`` squared crops; a slice at the run's spacing can be smaller (padded, as in training) or
larger (tiled). Windows overlap by a quarter and are blended with a Gaussian weight (nnU-Net's sigma of 1/8 patch),
which damps the less reliable borders of each window; a quarter rather than nnU-Net's half keeps a 512 squared slice at
25 windows of 128 instead of 49, on a CPU project, while every pixel but the outer rim is still seen by two or more
windows. Validation during training calls the same function, so its Dice is the one prediction would give.
"""

from __future__ import annotations

import torch
from monai.inferers import SlidingWindowInferer
from torch import nn

__all__ = ["SLIDING_WINDOW", "network_logits"]

SLIDING_WINDOW = {"overlap": 0.25, "mode": "gaussian", "sigma_scale": 0.125}


def network_logits(model: nn.Module, slices: torch.Tensor, patch_size: int, windows_per_pass: int = 16,
                   ) -> torch.Tensor:
    """Logits ``[N, C, X, Y]`` (float32) of slices ``[N, 1, X, Y]`` in [0, 1].

    A slice of exactly the patch size (every slice of a ``--spacing none`` run) is one plain forward pass;
    otherwise MONAI tiles it with ``patch_size`` windows, padding with 0 (the window's low end, as the training
    crops are padded) where the slice is smaller, ``windows_per_pass`` windows per forward pass.
    """
    if tuple(slices.shape[-2:]) == (patch_size, patch_size):
        return model(slices).float()
    inferer = SlidingWindowInferer(roi_size=(patch_size, patch_size), sw_batch_size=windows_per_pass,
                                   padding_mode="constant", cval=0.0, **SLIDING_WINDOW)
    return inferer(slices, lambda windows: model(windows).float())
