"""Parameter budgets of the low-rank baseline: the budget a QPG model spends on given layers, and ranks within a budget.

Both count from layer shapes alone — no circuit, no engine, no qiskit — so a low-rank run (``--rank-budget qpg``)
builds and loads without the quantum stack.

Rank under a budget: one rank r for every layer (capped at ``min(C_out, fan_in)``), the largest whose factor parameters
fit, then the leftover raises the cheapest layers to r+1 while it fits. Ranks therefore differ by at most one between
layers — the uniform, fixed-rank baseline the paper contrasts QPG with — and the total stays at or below the budget:
the baseline never gets more parameters than the model it is compared to. The shortfall is below one rank step of a
layer still at r (``C_out + fan_in``). At QPG-sized budgets that step is coarse: for the Unet-resnet18 decoder at the
default QPG budget (36,784) the ranks are 1-2 and the shortfall is 5,968 parameters — 16% of the layers' budget,
0.05% of the model's trainable parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from ..errors import ConfigError
from ..qpg.source import initial_parameters, layer_qubits
from ..weightgen.selection import parse_layer_patterns, select_layers


def qpg_budget(
    model: nn.Module, layers: str | Sequence[str] | None, ansatz: Any, mapping: str = "affine",
    mapping_options: dict[str, Any] | None = None, option: str = "--lowrank-layers",
) -> int:
    """Trainable parameters QPG would put in the selected layers of ``model``: θ, mapping and bias per layer.

    Equals ``replaced_layer_parameters`` of the model ``apply_qpg`` builds with the same arguments. ``ansatz``: the
    template (an ``AnsatzSpec``) whose ``num_parameters(n)`` gives the angles per channel circuit. Each layer's θ and
    mapping are created as a QPG layer creates them (no circuit or engine), so the count cannot drift from what QPG
    builds, and the torch RNG advances exactly as building the QPG layers would advance it: a model built after
    this count starts from the numbers it got when the count built a whole QPG model.
    """
    total = 0
    for name in select_layers(model, parse_layer_patterns(layers), option=option):
        layer = model.get_submodule(name)
        channels, fan_in = layer.weight.shape[0], layer.weight[0].numel()
        per_channel = ansatz.num_parameters(layer_qubits(fan_in, mapping, mapping_options))
        theta, mapping_module = initial_parameters(channels, fan_in, per_channel, mapping, mapping_options)
        total += theta.numel() + sum(p.numel() for p in mapping_module.parameters() if p.requires_grad)
        total += layer.bias.numel() if layer.bias is not None else 0
    return total


def ranks_for_budget(shapes: Sequence[tuple[int, int]], budget: int) -> list[int]:
    """Near-uniform ranks for ``[C_out, fan_in]`` shapes whose factor parameters ``Σ r·(C_out+fan_in)`` fit budget."""
    costs = [channels + fan_in for channels, fan_in in shapes]
    caps = [min(shape) for shape in shapes]
    minimum = sum(costs)
    if budget < minimum:
        raise ConfigError(
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
