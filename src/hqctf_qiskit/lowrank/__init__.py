"""Low-rank baseline: layers whose weight is a trainable factorization ``W = A·B`` of fixed rank.

Selected with the same syntax as QPG layers, sized by a fixed rank or a trainable-parameter budget, and exported to
plain layers (together with any QPG layers) by ``export_plain``. Needs torch only.
"""

from .apply import (
    LowRankLayerInfo, LowRankReport, apply_lowrank, export_plain, generated_weight_modules, ranks_for_budget,
    replaced_layer_parameters,
)
from .layers import GeneratedWeightModule, LowRankConv2d, LowRankLinear, LowRankModule, factorize

__all__ = [
    "LowRankLayerInfo", "LowRankReport", "apply_lowrank", "export_plain", "generated_weight_modules",
    "ranks_for_budget", "replaced_layer_parameters", "GeneratedWeightModule", "LowRankConv2d", "LowRankLinear",
    "LowRankModule", "factorize",
]
