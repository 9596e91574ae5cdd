"""Paired comparisons of a method against the classical model: Wilcoxon signed-rank p-value and a bootstrap CI.

Both are scipy's (``scipy.stats.wilcoxon``, ``scipy.stats.bootstrap``), called on the same pairs:

- Pairs: one value per (case, seed[, fold]) for the method and for the classical model of the same architecture; a
  pair where either value is NaN (a metric undefined for that case, see the evaluation's NaN policy) is dropped
  from both tests, and ``pairs`` counts what is left.
- Zeros (equal values, e.g. both miss the tumour: Dice 0 and 0): Pratt's method (``zero_method="pratt"``) keeps them
  in the ranking and drops them from the signed-rank sum, so many equal cases weaken the evidence instead of being
  ignored. Ties among non-zero differences get mid-ranks. scipy's ``method="auto"``: the exact distribution for up
  to 50 pairs without zeros or ties; with zeros or ties, exhaustive permutations up to 13 pairs, else the normal
  approximation adjusted for them. When every pair is equal there is nothing to rank: p = 1.
- CI: the BCa bootstrap 95% interval of the mean difference (scipy's default method, 9,999 resamples, seeded); the
  point itself when all differences are equal (BCa is undefined there); NaN below two pairs. A difference is
  *distinguishable* when its CI excludes 0.

Caveat the table repeats: pairs of one patient over seeds and folds are not independent, so with few test patients
the p-values and CIs are optimistic; they say which differences are noise, not which are established.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 9_999
NOT_DISTINGUISHABLE = "not distinguishable"


@dataclass(frozen=True)
class PairedComparison:
    """``method − reference`` over the pairs both have: mean difference, its bootstrap CI, the Wilcoxon p-value."""

    pairs: int
    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float

    @property
    def verdict(self) -> str:
        """``higher`` / ``lower`` (the CI excludes 0), ``not distinguishable`` (it covers 0), or ``too few pairs``."""
        if math.isnan(self.ci_low) or math.isnan(self.ci_high):
            return "too few pairs"
        if self.ci_low > 0:
            return "higher"
        if self.ci_high < 0:
            return "lower"
        return NOT_DISTINGUISHABLE

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def finite_differences(method: Any, reference: Any) -> np.ndarray:
    """``method − reference`` for the pairs where both values are finite (NaN pairs dropped)."""
    a, b = np.asarray(method, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep] - b[keep]


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of ``differences`` (Pratt's zeros); 1 when all are 0, NaN if empty."""
    from scipy.stats import wilcoxon

    if differences.size == 0:
        return math.nan
    if not np.any(differences):
        return 1.0
    return float(wilcoxon(differences, zero_method="pratt").pvalue)


def bootstrap_ci(differences: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """The BCa bootstrap CI of the mean of ``differences`` (see the module docstring)."""
    from scipy.stats import bootstrap

    if differences.size < 2:
        return math.nan, math.nan
    if np.all(differences == differences[0]):
        return float(differences[0]), float(differences[0])
    interval = bootstrap((differences,), np.mean, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                         rng=np.random.default_rng(seed)).confidence_interval
    return float(interval.low), float(interval.high)


def paired_comparison(method: Any, reference: Any, seed: int = 0) -> PairedComparison:
    """Compare paired values (same order: one per case/seed/fold) of a method against a reference."""
    differences = finite_differences(method, reference)
    mean = float(differences.mean()) if differences.size else math.nan
    low, high = bootstrap_ci(differences, seed)
    return PairedComparison(int(differences.size), mean, low, high, wilcoxon_p(differences))
