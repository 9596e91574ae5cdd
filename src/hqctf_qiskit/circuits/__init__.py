"""Qiskit circuits for QPG: ansatz specification and builder, hardware-aware transpilation and packing, statistics.

No backend names are resolved here (that is ``backends``): these functions take a device object. The names below
are loaded on first use (PEP 562), so ``circuits.ansatz``'s plain ``AnsatzSpec`` can be used without qiskit.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("AnsatzSpec", "build_ansatz", "entangling_pairs", "ENTANGLEMENTS", "ROTATION_BLOCKS"),
                    ".ansatz"),
    **dict.fromkeys(("find_line_layouts", "transpile_isa", "swap_count"), ".transpile"),
    **dict.fromkeys(("PackedCircuit", "pack_ansatz", "pack_circuit", "max_slots", "marginal_probabilities"),
                    ".packing"),
    **dict.fromkeys(("is_two_qubit_gate", "two_qubit_counts", "two_qubit_gate_count", "LogicalStats",
                     "TranspiledStats"), ".stats"),
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
