"""Low-rank baseline: the weight source ``W = A·B`` of fixed rank, and its parameter budgets.

Selected with the same syntax as QPG layers, sized by a fixed rank or a trainable-parameter budget (``qpg_budget``
counts what QPG would spend on the same layers, without circuits), and exported to plain layers together with any
QPG layers by ``weightgen.export_plain``. Needs torch only — no qiskit.
"""

from .apply import LowRankLayerInfo, LowRankReport, apply_lowrank
from .budget import qpg_budget, ranks_for_budget
from .source import LowRankSource, factorize

__all__ = [
    "LowRankLayerInfo", "LowRankReport", "apply_lowrank", "qpg_budget", "ranks_for_budget", "LowRankSource",
    "factorize",
]
