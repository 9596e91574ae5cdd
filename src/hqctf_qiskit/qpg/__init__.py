"""Quantum parameter generation (QPG): circuit probabilities → mapping → layer weights.

Importing this package does not import qiskit: circuits are built only when ``apply_qpg`` creates layers, and
``export_classical`` needs torch alone.
"""

from .apply import apply_qpg, engine_provider
from .export import export_classical, has_qpg_layers
from .generator import ChannelCircuitGenerator
from .layers import QPGConv2d, QPGLinear, QPGModule
from .mappings import MAPPINGS, AffineMapping, ChunkedMapping, QuantumTrainMapping, WeightMapping, mapping_class
from .report import QPGLayerInfo, QPGReport, trainable_parameters
from .selection import ROLE_PREFIXES, parse_layer_patterns, select_layers

__all__ = [
    "apply_qpg", "engine_provider", "export_classical", "has_qpg_layers", "ChannelCircuitGenerator", "QPGConv2d",
    "QPGLinear", "QPGModule", "MAPPINGS", "AffineMapping", "ChunkedMapping", "QuantumTrainMapping", "WeightMapping",
    "mapping_class", "QPGLayerInfo", "QPGReport", "trainable_parameters", "ROLE_PREFIXES", "parse_layer_patterns",
    "select_layers",
]
