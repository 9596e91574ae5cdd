"""Qiskit circuits for QPG: ansatz specification and builder, hardware-aware transpilation and packing."""

from .ansatz import ENTANGLEMENTS, ROTATION_BLOCKS, AnsatzSpec, build_ansatz, entangling_pairs
from .packing import PackedCircuit, marginal_probabilities, max_slots, pack_ansatz, pack_circuit
from .transpile import find_line_layouts, swap_count, transpile_isa, two_qubit_gate_count

__all__ = [
    "AnsatzSpec", "build_ansatz", "entangling_pairs", "ENTANGLEMENTS", "ROTATION_BLOCKS",
    "find_line_layouts", "transpile_isa", "two_qubit_gate_count", "swap_count",
    "PackedCircuit", "pack_ansatz", "pack_circuit", "max_slots", "marginal_probabilities",
]
