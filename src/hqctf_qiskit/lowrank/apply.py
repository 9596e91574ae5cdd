"""``apply_lowrank``: swap selected layers for layers with a low-rank weight source (fixed rank or a parameter
budget) and report the parameters."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import ConfigError
from ..weightgen.replace import ReplacementReport, swap_layers, trainable_parameters
from ..weightgen.selection import parse_layer_patterns, select_layers
from .budget import ranks_for_budget
from .source import LowRankSource

log = logging.getLogger(__name__)


@dataclass
class LowRankLayerInfo:
    name: str
    kind: str
    channels: int
    fan_in: int
    rank: int
    max_rank: int
    params: int  # trainable factor parameters r·(C_out + fan_in); the bias is counted in the report's totals
    dense_params: int  # C_out·fan_in, the weight it replaces


@dataclass
class LowRankReport(ReplacementReport):
    label = "low-rank"
    columns = (("ch", "channels", 5), ("fan_in", "fan_in", 7), ("rank", "rank", 5), ("max", "max_rank", 5),
               ("params", "params", 9), ("dense", "dense_params", 9))
    total_fields = ("params", "dense_params")

    rank: int | None
    budget: int | None
    layers: list[LowRankLayerInfo] = field(default_factory=list)
    classical_trainable: int = 0
    trainable: int = 0

    @property
    def generated_trainable(self) -> int:
        return self.trainable

    def settings(self) -> str:
        if self.rank is not None:
            return f"rank {self.rank}"
        return f"budget {self.budget:,}" if self.budget else "none"


def _trainable_bias(module: nn.Module) -> int:
    bias = getattr(module, "bias", None)
    return bias.numel() if isinstance(bias, torch.Tensor) and bias.requires_grad else 0


def apply_lowrank(
    model: nn.Module, layers: str | Sequence[str] | None, rank: int | None = None, budget: int | None = None
) -> LowRankReport:
    """Replace the selected Conv2d/Linear layers of ``model`` in place by low-rank layers; return the report.

    ``layers``: the ``--qpg-layers`` syntax (roles ``encoder``/``decoder``/``head``/``all``, fnmatch globs, ``none``).
    Give exactly one of ``rank`` (the same rank everywhere, capped per layer at ``min(C_out, fan_in)``) or ``budget``:
    the trainable parameters the selected layers may hold after replacement, their biases included — e.g.
    ``replaced_layer_parameters(qpg_model)`` or ``qpg_budget(...)`` for an equal-budget comparison with a QPG model
    of the same selection.
    """
    if rank is not None and budget is not None:
        raise ConfigError("give either --rank or a parameter budget, not both")
    if rank is not None and rank < 1:
        raise ConfigError(f"--rank must be >= 1, got {rank}")
    report = LowRankReport(rank=rank, budget=budget, classical_trainable=trainable_parameters(model))
    names = select_layers(model, parse_layer_patterns(layers), option="--lowrank-layers")
    if names and rank is None and budget is None:
        raise ConfigError("--lowrank-layers needs --rank or a parameter budget")
    originals = [model.get_submodule(name) for name in names]
    shapes = [(m.weight.shape[0], m.weight[0].numel()) for m in originals]
    if rank is not None:
        ranks = dict(zip(names, (min(rank, *shape) for shape in shapes)))
    elif names:
        ranks = dict(zip(names, ranks_for_budget(shapes, budget - sum(map(_trainable_bias, originals)))))
    else:
        ranks = {}

    def make_source(name: str, replaced: nn.Module) -> LowRankSource:
        source = LowRankSource(replaced.weight, ranks[name])
        if rank is not None and source.rank < rank:
            log.info("low-rank %s: rank capped at %d = min(C_out, fan_in)", name, source.rank)
        report.layers.append(
            LowRankLayerInfo(
                name=name, kind=type(replaced).__name__, channels=source.channels, fan_in=source.fan_in,
                rank=source.rank, max_rank=min(source.channels, source.fan_in), params=source.trainable_count,
                dense_params=source.channels * source.fan_in,
            )
        )
        log.debug("low-rank %s: [%d, %d] rank %d", name, source.channels, source.fan_in, source.rank)
        return source

    swap_layers(model, names, make_source)
    report.trainable = trainable_parameters(model)
    return report
