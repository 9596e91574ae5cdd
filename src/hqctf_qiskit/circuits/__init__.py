"""Qiskit circuits for QPG: ansatz specification and builder."""

from .ansatz import ENTANGLEMENTS, ROTATION_BLOCKS, AnsatzSpec, build_ansatz, entangling_pairs

__all__ = ["AnsatzSpec", "build_ansatz", "entangling_pairs", "ENTANGLEMENTS", "ROTATION_BLOCKS"]
