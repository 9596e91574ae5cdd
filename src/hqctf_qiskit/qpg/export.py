"""Export: QPG layers materialized into plain torch layers. Needs torch only — no qiskit at inference."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .layers import QPGModule
from .selection import replace_module


@torch.no_grad()
def export_classical(model: nn.Module, weights: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """A copy of ``model`` with every QPG (or other generated-weight) layer replaced by a plain layer.

    ``weights`` (layer name → weight) overrides the generated weights of some layers, e.g. weights regenerated from
    probabilities measured on a sampler backend. The copy has the original architecture's module tree, so its
    ``state_dict`` loads into a freshly built model. The input model is left untouched.
    """
    weights = weights or {}
    exported = copy.deepcopy(model)
    targets = [name for name, module in exported.named_modules() if is_generated_weight_layer(module)]
    unknown = set(weights) - set(targets)
    if unknown:
        raise KeyError(f"not generated-weight layers: {sorted(unknown)}")
    for name in targets:
        replace_module(exported, name, exported.get_submodule(name).materialize(weights.get(name)))
    return exported


def is_generated_weight_layer(module: nn.Module) -> bool:
    """QPG layers and any other layer whose weight is generated (e.g. the low-rank baseline's): they materialize."""
    return isinstance(module, QPGModule) or (
        callable(getattr(module, "materialize", None)) and callable(getattr(module, "generated_weight", None))
    )


def has_qpg_layers(model: nn.Module) -> bool:
    return any(isinstance(m, QPGModule) for m in model.modules())
