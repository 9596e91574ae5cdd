"""Low-rank layers: a Conv2d / Linear whose weight is a trainable factorization ``W = A·B``; the bias stays classical.

This is the fixed-rank baseline HQC-TF is compared against: for the same parameter budget as a QPG layer, the weight
``[C_out, fan_in]`` can never exceed rank r. The forward builds ``W = A·B`` and runs the ordinary conv/linear on it
(rather than a rank-r conv followed by a 1x1 conv): grouped and depthwise convs work unchanged, and the exported plain
layer computes exactly what the trained layer computed. Building W costs ``C_out·r·fan_in`` flops, negligible next to
the convolution itself.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from ..qpg.layers import conv_forward, copy_conv_hyperparameters, plain_conv_like, plain_linear_like

log = logging.getLogger(__name__)

# A kept singular value below this fraction of the largest marks a degenerate init (e.g. an all-zero or constant
# weight): such a factor pair starts at zero, gets zero gradient, and would stay dead for the whole training.
DEGENERATE_FRACTION = 1e-6


@runtime_checkable
class GeneratedWeightModule(Protocol):
    """A layer whose weight is computed from other parameters (QPG, low-rank): what export and diagnostics need."""

    weight_shape: tuple[int, ...]

    def generated_weight(self) -> torch.Tensor: ...

    def materialize(self, weight: torch.Tensor | None = None) -> nn.Module: ...


def _default_init_std(fan_in: int) -> float:
    """Std of PyTorch's default conv/linear init (kaiming_uniform with a=sqrt(5)): U(±1/sqrt(fan_in))."""
    return (1.0 / (3.0 * fan_in)) ** 0.5


def factorize(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Balanced factors ``A [C, r]``, ``B [r, fan_in]`` of ``weight`` reshaped to ``[C, fan_in]``.

    ``A·B`` is the truncated SVD of the weight (its best rank-r approximation), rescaled to the weight's Frobenius
    norm: for inputs with independent entries the output variance is ``‖W‖²_F·var(x)/C``, so the layer starts with the
    replaced layer's init statistics (RMS and, for a zero-mean init, std) rather than with the ``r/min(C, fan_in)``
    fraction of its energy that truncation keeps. At full rank the factors reproduce the weight exactly. ``A`` and
    ``B`` share the singular values as ``sqrt(S)`` each, so neither factor's gradient is scaled away from the other.
    A degenerate weight (zero, constant, or of rank < r) is replaced by a Gaussian one of the same RMS first, so no
    factor column starts (and stays) at zero.
    """
    channels, fan_in = weight.shape[0], weight[0].numel()
    if not 1 <= rank <= min(channels, fan_in):
        raise ValueError(f"rank must be in 1..{min(channels, fan_in)} for a [{channels}, {fan_in}] weight, got {rank}")
    matrix = weight.detach().reshape(channels, fan_in).to("cpu", torch.float64)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    if s[0] <= 0 or s[rank - 1] <= DEGENERATE_FRACTION * s[0]:
        rms = float(matrix.square().mean().sqrt())
        std = rms if rms > 0 else _default_init_std(fan_in)
        log.debug("degenerate weight (rank < %d): factorizing a Gaussian weight of std %.3g instead", rank, std)
        matrix = torch.randn(channels, fan_in, dtype=torch.float64) * std
        u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    kept = s[:rank] * (s.norm() / s[:rank].norm())
    root = kept.sqrt()
    a = u[:, :rank] * root
    b = root[:, None] * vh[:rank]
    return a.to(weight.device, weight.dtype), b.to(weight.device, weight.dtype)


class LowRankModule(nn.Module):
    """Common part of low-rank layers: the factors ``A`` (``factor_a``) and ``B`` (``factor_b``) and ``W = A·B``."""

    weight_shape: tuple[int, ...]

    def __init__(self, weight: torch.Tensor, rank: int) -> None:
        super().__init__()
        a, b = factorize(weight, rank)
        self.factor_a = nn.Parameter(a)
        self.factor_b = nn.Parameter(b)
        self.weight_shape = tuple(weight.shape)

    @property
    def rank(self) -> int:
        return self.factor_a.shape[1]

    @property
    def factor_parameter_count(self) -> int:
        return self.factor_a.numel() + self.factor_b.numel()

    def generated_weight(self) -> torch.Tensor:
        return (self.factor_a @ self.factor_b).reshape(self.weight_shape)

    def materialize(self, weight: torch.Tensor | None = None) -> nn.Module:
        raise NotImplementedError


class LowRankConv2d(LowRankModule):
    """Drop-in replacement for an ``nn.Conv2d`` (any kernel, stride, dilation, padding mode, groups incl. depthwise)."""

    def __init__(self, conv: nn.Conv2d, rank: int) -> None:
        super().__init__(conv.weight, rank)
        copy_conv_hyperparameters(self, conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_forward(self, x, self.generated_weight())

    @torch.no_grad()
    def materialize(self, weight: torch.Tensor | None = None) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` holding ``A·B`` (or ``weight``)."""
        return plain_conv_like(self, self.generated_weight() if weight is None else weight.to(self.factor_a))

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"groups={self.groups}, rank={self.rank}"
        )


class LowRankLinear(LowRankModule):
    """Drop-in replacement for an ``nn.Linear``."""

    def __init__(self, linear: nn.Linear, rank: int) -> None:
        super().__init__(linear.weight, rank)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.bias = nn.Parameter(linear.bias.detach().clone()) if linear.bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.generated_weight(), self.bias)

    @torch.no_grad()
    def materialize(self, weight: torch.Tensor | None = None) -> nn.Linear:
        """A plain ``nn.Linear`` holding ``A·B`` (or ``weight``)."""
        return plain_linear_like(self, self.generated_weight() if weight is None else weight.to(self.factor_a))

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, rank={self.rank}"
