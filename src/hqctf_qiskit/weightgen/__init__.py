"""One generated-weight core: a Conv2d / Linear whose weight comes from a weight source (QPG circuits, low-rank
factors), the layer selection, the swap with its parameter report, and export to plain layers. Torch only.
"""

from .export import export_plain, generated_layers
from .layers import GeneratedConv2d, GeneratedLinear, GeneratedWeightLayer, generated_layer
from .replace import ReplacementReport, SourceFactory, replaced_layer_parameters, swap_layers, trainable_parameters
from .selection import ROLE_PREFIXES, parse_layer_patterns, replace_module, select_layers
from .source import WeightSource, default_init_std, layer_init_std

__all__ = [
    "export_plain", "generated_layers", "GeneratedConv2d", "GeneratedLinear", "GeneratedWeightLayer",
    "generated_layer", "ReplacementReport", "SourceFactory", "replaced_layer_parameters", "swap_layers",
    "trainable_parameters", "ROLE_PREFIXES", "parse_layer_patterns", "replace_module", "select_layers",
    "WeightSource", "default_init_std", "layer_init_std",
]
