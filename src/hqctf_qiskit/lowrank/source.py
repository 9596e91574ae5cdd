"""The low-rank weight source: a trainable factorization ``W = A·B`` of fixed rank.

This is the fixed-rank baseline HQC-TF is compared against: for the same parameter budget as a QPG layer, the weight
``[C_out, fan_in]`` can never exceed rank r. The layer builds ``W = A·B`` and runs the ordinary conv/linear on it
(rather than a rank-r conv followed by a 1x1 conv): grouped and depthwise convs work unchanged, and the exported plain
layer computes exactly what the trained layer computed. Building W costs ``C_out·r·fan_in`` flops, negligible next to
the convolution itself.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ..errors import ConfigError
from ..weightgen.source import WeightSource, default_init_std

log = logging.getLogger(__name__)

# A kept singular value below this fraction of the largest marks a degenerate init (e.g. an all-zero or constant
# weight): such a factor pair starts at zero, gets zero gradient, and would stay dead for the whole training.
DEGENERATE_FRACTION = 1e-6


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
        raise ConfigError(f"rank must be in 1..{min(channels, fan_in)} for a [{channels}, {fan_in}] weight, got {rank}")
    matrix = weight.detach().reshape(channels, fan_in).to("cpu", torch.float64)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    if s[0] <= 0 or s[rank - 1] <= DEGENERATE_FRACTION * s[0]:
        rms = float(matrix.square().mean().sqrt())
        std = rms if rms > 0 else default_init_std(fan_in)
        log.debug("degenerate weight (rank < %d): factorizing a Gaussian weight of std %.3g instead", rank, std)
        matrix = torch.randn(channels, fan_in, dtype=torch.float64) * std
        u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    kept = s[:rank] * (s.norm() / s[:rank].norm())
    root = kept.sqrt()
    a = u[:, :rank] * root
    b = root[:, None] * vh[:rank]
    return a.to(weight.device, weight.dtype), b.to(weight.device, weight.dtype)


class LowRankSource(WeightSource):
    """``W = A·B`` with ``A`` (``factor_a``, ``[C, r]``) and ``B`` (``factor_b``, ``[r, fan_in]``), initialized by
    ``factorize`` from the weight it replaces. Its factors train like any classical parameter (``--lr``, weight decay).
    """

    # low-rank layers held their factors directly before weightgen
    legacy_state_names = {"factor_a": "source.factor_a", "factor_b": "source.factor_b"}

    def __init__(self, weight: torch.Tensor, rank: int) -> None:
        super().__init__(weight.shape)
        a, b = factorize(weight, rank)
        self.factor_a = nn.Parameter(a)
        self.factor_b = nn.Parameter(b)

    @property
    def rank(self) -> int:
        return self.factor_a.shape[1]

    def forward(self) -> torch.Tensor:
        return (self.factor_a @ self.factor_b).reshape(self.weight_shape)

    def describe(self) -> str:
        return f"rank={self.rank}"
