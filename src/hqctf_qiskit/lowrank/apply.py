"""``apply_lowrank``: swap selected layers for low-rank ones (fixed rank or a parameter budget), report, and export.

Rank under a budget: one rank r for every layer (capped at ``min(C_out, fan_in)``), the largest whose factor parameters
fit, then the leftover raises the cheapest layers to r+1 while it fits. Ranks therefore differ by at most one between
layers — the uniform, fixed-rank baseline the paper contrasts QPG with — and the total stays at or below the budget:
the baseline never gets more parameters than the model it is compared to. The shortfall is below one rank step of a
layer still at r (``C_out + fan_in``). At QPG-sized budgets that step is coarse: for the Unet-resnet18 decoder at the
default QPG budget (36,784) the ranks are 1-2 and the shortfall is 5,968 parameters — 16% of the layers' budget,
0.05% of the model's trainable parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..qpg.layers import QPGModule
from ..qpg.report import trainable_parameters
from ..qpg.selection import parse_layer_patterns, replace_module, select_layers
from .layers import GeneratedWeightModule, LowRankConv2d, LowRankLinear, LowRankModule

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
class LowRankReport:
    rank: int | None
    budget: int | None
    layers: list[LowRankLayerInfo] = field(default_factory=list)
    classical_trainable: int = 0
    trainable: int = 0

    @property
    def ratio(self) -> float:
        return self.trainable / self.classical_trainable if self.classical_trainable else float("nan")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["totals"] = {
            "layers": len(self.layers),
            "params": sum(layer.params for layer in self.layers),
            "dense_params": sum(layer.dense_params for layer in self.layers),
        }
        return data

    def format_table(self) -> str:
        head = f"{'layer':<40} {'ch':>5} {'fan_in':>7} {'rank':>5} {'max':>5} {'params':>9} {'dense':>9}"
        lines = [head, "-" * len(head)]
        for layer in self.layers:
            lines.append(
                f"{layer.name:<40} {layer.channels:>5} {layer.fan_in:>7} {layer.rank:>5} {layer.max_rank:>5} "
                f"{layer.params:>9} {layer.dense_params:>9}"
            )
        how = f"rank {self.rank}" if self.rank is not None else f"budget {self.budget:,}" if self.budget else "none"
        lines.append(
            f"trainable parameters: classical {self.classical_trainable:,} -> low-rank {self.trainable:,} "
            f"(ratio {self.ratio:.3f}, {how})"
        )
        return "\n".join(lines)


def ranks_for_budget(shapes: Sequence[tuple[int, int]], budget: int) -> list[int]:
    """Near-uniform ranks for ``[C_out, fan_in]`` shapes whose factor parameters ``Σ r·(C_out+fan_in)`` fit budget."""
    costs = [channels + fan_in for channels, fan_in in shapes]
    caps = [min(shape) for shape in shapes]
    minimum = sum(costs)
    if budget < minimum:
        raise ValueError(
            f"a parameter budget of {budget:,} for the low-rank factors is below the rank-1 cost {minimum:,} of the "
            "selected layers; select fewer layers or give a fixed --rank"
        )

    def total(rank: int) -> int:
        return sum(min(rank, cap) * cost for cap, cost in zip(caps, costs))

    rank = 1
    while rank < max(caps) and total(rank + 1) <= budget:
        rank += 1
    ranks = [min(rank, cap) for cap in caps]
    left = budget - total(rank)
    for i in sorted(range(len(shapes)), key=lambda i: (costs[i], i)):
        if ranks[i] < caps[i] and costs[i] <= left:
            ranks[i] += 1
            left -= costs[i]
    return ranks


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
    ``replaced_layer_parameters(qpg_model)`` for an equal-budget comparison with a QPG model of the same selection.
    """
    if rank is not None and budget is not None:
        raise ValueError("give either --rank or a parameter budget, not both")
    if rank is not None and rank < 1:
        raise ValueError(f"--rank must be >= 1, got {rank}")
    report = LowRankReport(rank=rank, budget=budget, classical_trainable=trainable_parameters(model))
    names = select_layers(model, parse_layer_patterns(layers), option="--lowrank-layers")
    if names and rank is None and budget is None:
        raise ValueError("--lowrank-layers needs --rank or a parameter budget")
    originals = [model.get_submodule(name) for name in names]
    shapes = [(m.weight.shape[0], m.weight[0].numel()) for m in originals]
    if rank is not None:
        ranks = [min(rank, *shape) for shape in shapes]
    else:
        ranks = ranks_for_budget(shapes, budget - sum(map(_trainable_bias, originals))) if names else []
    for name, original, (channels, fan_in), layer_rank in zip(names, originals, shapes, ranks):
        if rank is not None and layer_rank < rank:
            log.info("low-rank %s: rank capped at %d = min(C_out, fan_in)", name, layer_rank)
        cls = LowRankConv2d if isinstance(original, nn.Conv2d) else LowRankLinear
        new = cls(original, layer_rank)
        new.train(original.training)
        replace_module(model, name, new)
        report.layers.append(
            LowRankLayerInfo(
                name=name, kind=type(original).__name__, channels=channels, fan_in=fan_in, rank=layer_rank,
                max_rank=min(channels, fan_in), params=new.factor_parameter_count, dense_params=channels * fan_in,
            )
        )
        log.debug("low-rank %s: [%d, %d] rank %d", name, channels, fan_in, layer_rank)
    report.trainable = trainable_parameters(model)
    return report


def generated_weight_modules(model: nn.Module) -> list[tuple[str, GeneratedWeightModule]]:
    """Every QPG and low-rank layer of ``model`` (and any other ``GeneratedWeightModule``), in model order."""
    return [
        (name, m) for name, m in model.named_modules()
        if isinstance(m, (QPGModule, LowRankModule)) or isinstance(m, GeneratedWeightModule)
    ]


def replaced_layer_parameters(model: nn.Module) -> int:
    """Trainable parameters inside the generated-weight layers: the budget for an equal-budget ``apply_lowrank``."""
    params = {id(p): p for _, m in generated_weight_modules(model) for p in m.parameters() if p.requires_grad}
    return sum(p.numel() for p in params.values())


@torch.no_grad()
def export_plain(model: nn.Module, weights: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """A copy of ``model`` with every QPG and low-rank layer replaced by a plain layer holding its current weight.

    Like ``qpg.export_classical`` (``weights`` overrides some layers' weights), for any mix of weight sources: the
    copy has the original architecture's module tree, so its ``state_dict`` loads into a freshly built model.
    """
    from ..qpg.export import export_classical  # it materializes every generated-weight layer, low-rank included

    return export_classical(model, weights)
