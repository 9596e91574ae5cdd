"""Quantum parameter generation (QPG): the weight source circuit probabilities → mapping → layer weights.

Importing this package does not import qiskit: circuits are built only when ``apply_qpg`` creates layers, and the
generated layers export to plain ones with torch alone (``weightgen.export_plain``).
"""

from .apply import apply_qpg, engine_provider
from .mappings import MAPPINGS, AffineMapping, ChunkedMapping, QuantumTrainMapping, WeightMapping, mapping_class
from .report import QPGLayerInfo, QPGReport
from .source import EngineProvider, QPGSource, initial_parameters, layer_qubits, qpg_layers

__all__ = [
    "apply_qpg", "engine_provider", "MAPPINGS", "AffineMapping", "ChunkedMapping", "QuantumTrainMapping",
    "WeightMapping", "mapping_class", "QPGLayerInfo", "QPGReport", "EngineProvider", "QPGSource",
    "initial_parameters", "layer_qubits", "qpg_layers",
]
