"""Paired statistics of the experiment table: equal to scipy called directly on the same pairs; NaN pairs, zeros
and degenerate samples handled as the module says."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import bootstrap, wilcoxon

from hqctf_qiskit.experiments.stats import CONFIDENCE, RESAMPLES, paired_comparison


def _scipy(differences: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    p = wilcoxon(differences, zero_method="pratt").pvalue
    ci = bootstrap((differences,), np.mean, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                   rng=np.random.default_rng(seed)).confidence_interval
    return float(p), float(ci.low), float(ci.high)


def test_paired_comparison_is_scipy_on_the_finite_pairs():
    rng = np.random.default_rng(5)
    method = rng.uniform(0, 1, 30)
    reference = method - rng.normal(0.02, 0.1, 30)
    method[[3, 11]] = np.nan  # a metric undefined for a case: the pair is dropped from both tests
    reference[20] = np.nan
    reference[[5, 6, 7]] = method[[5, 6, 7]]  # zero differences: kept in Pratt's ranking
    keep = np.isfinite(method) & np.isfinite(reference)
    differences = method[keep] - reference[keep]
    result = paired_comparison(method, reference, seed=4)
    assert result.pairs == 27
    assert result.mean_difference == pytest.approx(differences.mean(), abs=1e-15)
    assert (result.p_value, result.ci_low, result.ci_high) == pytest.approx(_scipy(differences, seed=4), abs=1e-12)
    assert paired_comparison(method, reference, seed=4) == result, "seeded: the same CI every time"


def test_verdict_follows_the_confidence_interval():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.2, 0.8, 25)
    better = paired_comparison(reference + 0.1 + rng.normal(0, 0.02, 25), reference)
    assert better.ci_low > 0 and better.verdict == "higher" and better.p_value < 0.001
    worse = paired_comparison(reference - 0.1 + rng.normal(0, 0.02, 25), reference)
    assert worse.verdict == "lower"
    noise = paired_comparison(reference + rng.normal(0, 0.1, 25), reference)
    assert noise.ci_low < 0 < noise.ci_high and noise.verdict == "not distinguishable"


def test_degenerate_samples():
    same = paired_comparison([0.0, 0.5, 0.7], [0.0, 0.5, 0.7])  # e.g. both miss the tumour in every case
    assert (same.pairs, same.mean_difference, same.ci_low, same.ci_high, same.p_value) == (3, 0.0, 0.0, 0.0, 1.0)
    assert same.verdict == "not distinguishable"
    one = paired_comparison([0.4, math.nan], [0.1, 0.2])
    assert one.pairs == 1 and math.isnan(one.ci_low) and one.verdict == "too few pairs"
    none = paired_comparison([math.nan], [0.2])
    assert none.pairs == 0 and math.isnan(none.mean_difference) and math.isnan(none.p_value)
