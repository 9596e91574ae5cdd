"""Export: every generated-weight layer materialized into the plain layer it stands for. Torch only."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .layers import GeneratedWeightLayer
from .selection import replace_module


def generated_layers(model: nn.Module) -> list[tuple[str, GeneratedWeightLayer]]:
    """Every generated-weight layer of ``model`` (QPG, low-rank, any other source), with its name, in model order."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, GeneratedWeightLayer)]


@torch.no_grad()
def export_plain(model: nn.Module, weights: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """A copy of ``model`` with every generated-weight layer replaced by a plain layer holding its current weight.

    ``weights`` (layer name → weight) overrides the generated weights of some layers, e.g. QPG weights regenerated
    from probabilities measured on a sampler backend. The copy has the original architecture's module tree, so its
    ``state_dict`` loads into a freshly built model. The input model is left untouched.
    """
    weights = weights or {}
    exported = copy.deepcopy(model)
    targets = generated_layers(exported)
    unknown = set(weights) - {name for name, _ in targets}
    if unknown:
        raise KeyError(f"not generated-weight layers: {sorted(unknown)}")
    for name, layer in targets:
        replace_module(exported, name, layer.materialize(weights.get(name)))
    return exported
