"""Generated-weight layers: a Conv2d / Linear whose weight comes from a ``WeightSource``; the bias stays classical.

The layer keeps everything of the layer it replaces but the weight (bias, conv hyperparameters), runs the ordinary
conv/linear on the generated weight, caches that weight in inference, and materializes into the plain layer it
stands for — so an exported model has the original architecture's module tree and needs no source code at all.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .source import WeightSource


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


class GeneratedWeightLayer(nn.Module):
    """The common part of generated-weight layers: the source, the classical bias, the inference cache, export."""

    def __init__(self, replaced: nn.Module, source: WeightSource) -> None:
        super().__init__()
        if tuple(replaced.weight.shape) != source.weight_shape:
            raise ValueError(
                f"a weight source of shape {list(source.weight_shape)} cannot replace the weight "
                f"{list(replaced.weight.shape)} of {type(replaced).__name__}"
            )
        # The bias is registered before the source: parameters() lists it first, as the layers before weightgen did.
        self.bias = nn.Parameter(replaced.bias.detach().clone()) if replaced.bias is not None else None
        self.source = source
        self._cached_weight: torch.Tensor | None = None
        self._cache_key: tuple | None = None

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return self.source.weight_shape

    def generated_weight(self) -> torch.Tensor:
        """The weight tensor; cached under ``eval()`` + ``no_grad`` until any source parameter changes."""
        if self.training or torch.is_grad_enabled():
            return self.source()
        key = tuple((p.data_ptr(), p._version, p.device) for p in self.source.parameters())
        if self._cached_weight is None or key != self._cache_key:
            self._cached_weight = self.source()
            self._cache_key = key
        return self._cached_weight

    def train(self, mode: bool = True) -> "GeneratedWeightLayer":
        self._cached_weight, self._cache_key = None, None
        return super().train(mode)

    @torch.no_grad()
    def materialize(self, weight: torch.Tensor | None = None) -> nn.Module:
        """The plain layer holding the generated weight, or ``weight`` (e.g. regenerated from sampled probabilities)."""
        if weight is None:
            weight = self.source()
        else:
            reference = next(self.source.parameters(), weight)
            weight = weight.to(device=reference.device, dtype=reference.dtype)
        return self._plain_layer(weight)

    def _plain_layer(self, weight: torch.Tensor) -> nn.Module:
        raise NotImplementedError

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # Checkpoints written before the weight-source layers name the source's tensors differently
        # (``<layer>.generator.theta``, ``<layer>.factor_a``): rename them to today's keys before loading.
        for old, new in self.source.legacy_state_names.items():
            for key in [k for k in state_dict if k.startswith(prefix + old)]:
                state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class GeneratedConv2d(GeneratedWeightLayer):
    """Drop-in replacement for an ``nn.Conv2d`` (any kernel, stride, dilation, padding mode, groups incl. depthwise)."""

    def __init__(self, conv: nn.Conv2d, source: WeightSource) -> None:
        super().__init__(conv, source)
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        self.dilation, self.groups, self.padding_mode = conv.dilation, conv.groups, conv.padding_mode
        self._reversed_padding_repeated_twice = conv._reversed_padding_repeated_twice

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.generated_weight()
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(x, weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def _plain_layer(self, weight: torch.Tensor) -> nn.Conv2d:
        return plain_conv_like(self, weight)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"groups={self.groups}, {self.source.describe()}"
        )


class GeneratedLinear(GeneratedWeightLayer):
    """Drop-in replacement for an ``nn.Linear``."""

    def __init__(self, linear: nn.Linear, source: WeightSource) -> None:
        super().__init__(linear, source)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.generated_weight(), self.bias)

    def _plain_layer(self, weight: torch.Tensor) -> nn.Linear:
        return plain_linear_like(self, weight)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, {self.source.describe()}"


def generated_layer(replaced: nn.Module, source: WeightSource) -> GeneratedWeightLayer:
    """The generated-weight layer standing in for ``replaced`` (an exact ``nn.Conv2d`` or ``nn.Linear``)."""
    if type(replaced) is nn.Conv2d:
        return GeneratedConv2d(replaced, source)
    if type(replaced) is nn.Linear:
        return GeneratedLinear(replaced, source)
    raise TypeError(f"only nn.Conv2d and nn.Linear layers get a weight source, not {type(replaced).__name__}")
