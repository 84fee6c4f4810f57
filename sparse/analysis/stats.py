"""Permutation p-values and Benjamini–Hochberg false-discovery-rate control."""

from __future__ import annotations

import numpy as np

__all__ = ["benjamini_hochberg", "permutation_pvalue"]


def permutation_pvalue(
    null: np.ndarray, observed: np.ndarray, use: np.ndarray | None = None, rtol: float = 1e-10
) -> np.ndarray:
    """p = (1 + #{null ≥ observed}) / (1 + N), never 0 (Phipson & Smyth 2010).

    Surrogates within a relative ``rtol`` of the observed value count as ties (≥), so
    floating-point rounding can only make the test more conservative.

    Parameters
    ----------
    null : np.ndarray, shape (..., N)
        Surrogate statistics.
    observed : np.ndarray, shape (...)
    use : np.ndarray of bool, shape (N,), optional
        Only these surrogates count (N becomes ``use.sum()``).

    Returns
    -------
    np.ndarray, shape (...)
        p-values in [1 / (N + 1), 1].

    Examples
    --------
    >>> permutation_pvalue(np.array([0.1, 0.2, 0.3]), np.array(0.25)).item()
    0.5
    """
    null = np.asarray(null, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)[..., None]
    if np.isnan(null).any() or np.isnan(observed).any():
        raise ValueError("NaN in PAC statistics")
    tol = rtol * np.maximum(np.abs(observed), 1e-300)
    exceed = null >= observed - tol
    if use is None:
        return (1.0 + exceed.sum(axis=-1)) / (1.0 + null.shape[-1])
    use = np.asarray(use, dtype=bool)
    return (1.0 + (exceed & use).sum(axis=-1)) / (1.0 + use.sum())


def benjamini_hochberg(pvalues: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini–Hochberg step-up procedure over all entries of ``pvalues`` as one family.

    Parameters
    ----------
    pvalues : np.ndarray, any shape
    alpha : float
        False-discovery rate.

    Returns
    -------
    (np.ndarray, np.ndarray)
        ``reject`` (bool, same shape) and BH-adjusted p-values (same shape), so that
        ``reject == (adjusted ≤ alpha)``.

    Examples
    --------
    >>> reject, adj = benjamini_hochberg(np.array([0.01, 0.03, 0.02, 0.5]), alpha=0.05)
    >>> reject.tolist(), adj.round(3).tolist()
    ([True, True, True, False], [0.04, 0.04, 0.04, 0.5])
    """
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    m = flat.size
    if m == 0:
        return np.zeros(p.shape, bool), p.copy()
    order = np.argsort(flat, kind="stable")
    scaled = flat[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    adjusted = adjusted.reshape(p.shape)
    return adjusted <= alpha, adjusted
