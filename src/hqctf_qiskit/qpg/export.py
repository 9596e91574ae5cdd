"""``export_classical``: the README's name for exporting a QPG model, i.e. ``weightgen.export_plain``.

Every generated-weight layer (QPG, low-rank) materializes the same way, so there is one export; this name stays for
the documented ``from hqctf_qiskit.qpg import apply_qpg, export_classical``.
"""

from __future__ import annotations

from ..weightgen.export import export_plain as export_classical

__all__ = ["export_classical"]
