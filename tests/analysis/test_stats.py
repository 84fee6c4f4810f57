"""Permutation p-values and Benjamini–Hochberg."""

import numpy as np
import pytest

from sparse.analysis.stats import benjamini_hochberg, permutation_pvalue


def test_pvalue_has_plus_one_and_counts_ties():
    null = np.array([0.1, 0.2, 0.3, 0.4])
    assert permutation_pvalue(null, np.array(0.5)).item() == pytest.approx(1 / 5)
    assert permutation_pvalue(null, np.array(0.3)).item() == pytest.approx(3 / 5)
    assert permutation_pvalue(null, np.array(0.0)).item() == 1.0
    batch = permutation_pvalue(np.tile(null, (2, 3, 1)), np.full((2, 3), 0.25))
    assert batch.shape == (2, 3) and np.allclose(batch, 3 / 5)


def test_pvalue_rejects_nan():
    with pytest.raises(ValueError, match="NaN in PAC statistics"):
        permutation_pvalue(np.array([0.1, np.nan]), np.array(0.2))


def reference_bh(p: np.ndarray, alpha: float) -> np.ndarray:
    """Textbook step-up: reject the k smallest, k = max{i : p_(i) ≤ i·α/m}."""
    order = np.sort(p)
    below = np.nonzero(order <= alpha * np.arange(1, p.size + 1) / p.size)[0]
    if below.size == 0:
        return np.zeros(p.size, bool)
    return p <= order[below[-1]]


def test_bh_matches_textbook_step_up_on_random_families():
    rng = np.random.default_rng(0)
    for _ in range(200):
        small = rng.uniform(0, 0.02, rng.integers(0, 10))
        p = np.concatenate([small, rng.random(rng.integers(1, 40))])
        reject, adjusted = benjamini_hochberg(p, 0.05)
        assert np.array_equal(reject, reference_bh(p, 0.05))
        assert np.array_equal(reject, adjusted <= 0.05)
        assert np.all(adjusted >= p - 1e-12) and np.all(adjusted <= 1)


def test_bh_keeps_shape():
    reject, adjusted = benjamini_hochberg(np.full((2, 3, 4), 0.5), 0.05)
    assert reject.shape == adjusted.shape == (2, 3, 4) and not reject.any()
