"""The hypernet control: QPG's parameters and mapping with a classical generator in place of the circuits.

A reviewer's first question about QPG is whether the circuit matters or only the parameter count and the mapping.
This weight source keeps both (θ ``[C, P]`` with the ansatz's P per channel, the same mapping and calibration) and
swaps the circuit for ``softmax(θ·R)`` with a fixed random projection R. Torch only: no qiskit, no engine.
"""

from .apply import HypernetReport, apply_hypernet
from .source import HypernetSource, projection

__all__ = ["HypernetReport", "apply_hypernet", "HypernetSource", "projection"]
