"""QPG layers: a Conv2d / Linear whose weight comes from per-channel circuits; the bias stays classical."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .generator import ChannelCircuitGenerator


class QPGModule(nn.Module):
    """Common part of QPG layers: weight generation with an inference cache, and materialization."""

    generator: ChannelCircuitGenerator
    weight_shape: tuple[int, ...]

    def __init__(self) -> None:
        super().__init__()
        self._cached_weight: torch.Tensor | None = None
        self._cache_key: tuple | None = None

    def generated_weight(self) -> torch.Tensor:
        """The weight tensor; cached under ``eval()`` + ``no_grad`` until any generator parameter changes."""
        if self.training or torch.is_grad_enabled():
            return self.generator().reshape(self.weight_shape)
        key = tuple((p.data_ptr(), p._version, p.device) for p in self.generator.parameters())
        if self._cached_weight is None or key != self._cache_key:
            self._cached_weight = self.generator().reshape(self.weight_shape)
            self._cache_key = key
        return self._cached_weight

    def train(self, mode: bool = True) -> "QPGModule":
        self._cached_weight, self._cache_key = None, None
        return super().train(mode)

    def materialize(self, weight: torch.Tensor | None = None) -> nn.Module:
        raise NotImplementedError


class QPGConv2d(QPGModule):
    """Drop-in replacement for an ``nn.Conv2d`` (any kernel, stride, dilation, padding, groups incl. depthwise)."""

    def __init__(self, conv: nn.Conv2d, generator: ChannelCircuitGenerator) -> None:
        super().__init__()
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        self.dilation, self.groups, self.padding_mode = conv.dilation, conv.groups, conv.padding_mode
        self._reversed_padding_repeated_twice = conv._reversed_padding_repeated_twice
        self.weight_shape = tuple(conv.weight.shape)
        self.bias = nn.Parameter(conv.bias.detach().clone()) if conv.bias is not None else None
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.generated_weight()
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(x, weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    @torch.no_grad()
    def materialize(self, weight: torch.Tensor | None = None) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` holding the generated weights (or ``weight``, e.g. from sampled probabilities)."""
        ref = self.generator.theta
        conv = nn.Conv2d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding, self.dilation,
            self.groups, bias=self.bias is not None, padding_mode=self.padding_mode, device=ref.device, dtype=ref.dtype,
        )
        conv.weight.copy_((self.generator() if weight is None else weight).reshape(self.weight_shape))
        if self.bias is not None:
            conv.bias.copy_(self.bias)
        return conv.train(self.training)

    def extra_repr(self) -> str:
        g = self.generator
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"qubits={g.num_qubits}, mapping={g.mapping_name}"
        )


class QPGLinear(QPGModule):
    """Drop-in replacement for an ``nn.Linear``: one circuit per output feature."""

    def __init__(self, linear: nn.Linear, generator: ChannelCircuitGenerator) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight_shape = tuple(linear.weight.shape)
        self.bias = nn.Parameter(linear.bias.detach().clone()) if linear.bias is not None else None
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.generated_weight(), self.bias)

    @torch.no_grad()
    def materialize(self, weight: torch.Tensor | None = None) -> nn.Linear:
        ref = self.generator.theta
        linear = nn.Linear(
            self.in_features, self.out_features, bias=self.bias is not None, device=ref.device, dtype=ref.dtype
        )
        linear.weight.copy_((self.generator() if weight is None else weight).reshape(self.weight_shape))
        if self.bias is not None:
            linear.bias.copy_(self.bias)
        return linear.train(self.training)

    def extra_repr(self) -> str:
        g = self.generator
        return f"{self.in_features}, {self.out_features}, qubits={g.num_qubits}, mapping={g.mapping_name}"
