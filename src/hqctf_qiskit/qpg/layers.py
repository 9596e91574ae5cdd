"""QPG layers: a Conv2d / Linear whose weight comes from per-channel circuits; the bias stays classical."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .generator import ChannelCircuitGenerator


@torch.no_grad()
def plain_conv_like(layer: nn.Module, weight: torch.Tensor) -> nn.Conv2d:
    """A plain ``nn.Conv2d`` with ``layer``'s hyperparameters and bias, holding ``weight`` (what export uses)."""
    conv = nn.Conv2d(
        layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
        layer.groups, bias=layer.bias is not None, padding_mode=layer.padding_mode, device=weight.device,
        dtype=weight.dtype,
    )
    conv.weight.copy_(weight.reshape(conv.weight.shape))
    if layer.bias is not None:
        conv.bias.copy_(layer.bias)
    return conv.train(layer.training)


@torch.no_grad()
def plain_linear_like(layer: nn.Module, weight: torch.Tensor) -> nn.Linear:
    """A plain ``nn.Linear`` with ``layer``'s sizes and bias, holding ``weight``."""
    linear = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None, device=weight.device,
                       dtype=weight.dtype)
    linear.weight.copy_(weight.reshape(linear.weight.shape))
    if layer.bias is not None:
        linear.bias.copy_(layer.bias)
    return linear.train(layer.training)


def copy_conv_hyperparameters(target: nn.Module, conv: nn.Conv2d) -> None:
    """What a generated-weight conv keeps of the conv it replaces: everything but the weight (bias kept trainable)."""
    target.in_channels, target.out_channels = conv.in_channels, conv.out_channels
    target.kernel_size, target.stride, target.padding = conv.kernel_size, conv.stride, conv.padding
    target.dilation, target.groups, target.padding_mode = conv.dilation, conv.groups, conv.padding_mode
    target._reversed_padding_repeated_twice = conv._reversed_padding_repeated_twice
    target.bias = nn.Parameter(conv.bias.detach().clone()) if conv.bias is not None else None


def conv_forward(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``nn.Conv2d``'s forward with an external weight (padding modes included)."""
    if layer.padding_mode != "zeros":
        x = F.pad(x, layer._reversed_padding_repeated_twice, mode=layer.padding_mode)
        return F.conv2d(x, weight, layer.bias, layer.stride, 0, layer.dilation, layer.groups)
    return F.conv2d(x, weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)


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
        copy_conv_hyperparameters(self, conv)
        self.weight_shape = tuple(conv.weight.shape)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_forward(self, x, self.generated_weight())

    @torch.no_grad()
    def materialize(self, weight: torch.Tensor | None = None) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` holding the generated weights (or ``weight``, e.g. from sampled probabilities)."""
        weight = self.generator() if weight is None else weight
        return plain_conv_like(self, weight.to(self.generator.theta))

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
        weight = self.generator() if weight is None else weight
        return plain_linear_like(self, weight.to(self.generator.theta))

    def extra_repr(self) -> str:
        g = self.generator
        return f"{self.in_features}, {self.out_features}, qubits={g.num_qubits}, mapping={g.mapping_name}"
