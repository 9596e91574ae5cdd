"""A weight source: an ``nn.Module`` whose ``forward()`` returns one layer's full weight tensor from its own parameters.

QPG (circuit parameters → probabilities → mapping) and low-rank (``A·B``) are two sources; the generated layer that
holds a source (``weightgen.layers``) does not care which. Torch only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn


def default_init_std(fan_in: int) -> float:
    """Std of PyTorch's default conv/linear init (kaiming_uniform with a=sqrt(5)): U(±1/sqrt(fan_in))."""
    return (1.0 / (3.0 * fan_in)) ** 0.5


def layer_init_std(weight: torch.Tensor) -> float:
    """The std a replaced layer's weight was initialised with, which a generated weight starts at; a degenerate
    (constant) weight falls back to PyTorch's default init std."""
    std = float(weight.detach().float().std()) if weight.numel() > 1 else 0.0
    return std if std > 0 else default_init_std(weight[0].numel())


class WeightSource(nn.Module):
    """Base of every weight source: ``forward()`` → the weight of shape ``weight_shape`` (``[C_out, C_in/g, kh, kw]``
    for a conv, ``[out, in]`` for a linear layer).

    Class attributes a source may set:

    - ``optimizer_group``: the optimizer parameter group its parameters belong to (``"classical"``: ``--lr`` and weight
      decay like any other parameter; ``"qpg"``: ``--qpg-lr`` without weight decay).
    - ``legacy_state_names``: state_dict key prefixes, relative to the generated layer, that checkpoints written
      before the weight-source layers used for this source's tensors (old prefix → today's), so old runs still load.
    """

    optimizer_group: ClassVar[str] = "classical"
    legacy_state_names: ClassVar[dict[str, str]] = {}

    def __init__(self, weight_shape: Sequence[int]) -> None:
        super().__init__()
        self.weight_shape = tuple(int(size) for size in weight_shape)

    @property
    def channels(self) -> int:
        """Output channels (features): the weight's first dimension."""
        return self.weight_shape[0]

    @property
    def fan_in(self) -> int:
        """Weights per output channel: ``C_in/groups·kh·kw`` for a conv, ``in_features`` for a linear layer."""
        return math.prod(self.weight_shape[1:])

    @property
    def trainable_count(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def forward(self) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must return the weight of shape {self.weight_shape}")

    def describe(self) -> str:
        """What the layer's ``repr`` shows of this source (e.g. ``qubits=6, mapping=affine`` or ``rank=3``)."""
        return ""
