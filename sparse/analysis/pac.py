"""Phase-amplitude coupling metrics: Tort modulation index and Canolty mean vector length.

All functions take the phase φ (rad) of a slow band and the amplitude envelope A of a fast
band, with any leading batch axes and time last, and are NaN-free: an empty phase bin has
mean amplitude 0 (it contributes nothing to the entropy), an all-zero amplitude gives a
uniform distribution, hence MI 0 and MVL 0.

References: Tort et al., J. Neurophysiol. 104 (2010) 1195; Canolty et al., Science 313
(2006) 1626.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "N_BINS", "amplitude_distribution", "bin_counts", "binned_amplitude", "mean_from_sums",
    "mean_vector", "mean_vector_length", "modulation_index", "phase_bin_indices",
    "preferred_phase", "tort_mi_from_binned"
]

N_BINS = 18


def phase_bin_indices(phase: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Bin k of each phase, edges ``linspace(−π, π, n_bins + 1)``, edge_k ≤ φ < edge_k+1.

    φ = π (the closed end) goes to the last bin.

    Examples
    --------
    >>> phase_bin_indices(np.array([-np.pi, 0.0, np.pi])).tolist()
    [0, 9, 17]
    """
    edges = np.linspace(-np.pi, np.pi, n_bins + 1)
    idx = np.searchsorted(edges, np.asarray(phase, dtype=np.float64), side="right") - 1
    return np.clip(idx, 0, n_bins - 1)


def bin_counts(phase: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Number of samples per phase bin, shape (..., n_bins)."""
    idx = phase_bin_indices(phase, n_bins)
    return (idx[..., None] == np.arange(n_bins)).sum(axis=-2)


def binned_amplitude(phase: np.ndarray, amplitude: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Mean amplitude per phase bin; empty bins give 0.

    Parameters
    ----------
    phase, amplitude : np.ndarray, shape (..., T)

    Returns
    -------
    np.ndarray, shape (..., n_bins)

    Examples
    --------
    >>> binned_amplitude(np.zeros((3, 10)), np.ones((3, 10))).shape
    (3, 18)
    """
    onehot = phase_bin_indices(phase, n_bins)[..., None] == np.arange(n_bins)
    sums = np.einsum("...tk,...t->...k", onehot, np.asarray(amplitude, dtype=np.float64))
    return mean_from_sums(sums, onehot.sum(axis=-2))


def mean_from_sums(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-bin mean amplitude from per-bin sums and counts (0 where the count is 0)."""
    counts = np.asarray(counts)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def amplitude_distribution(mean_amp: np.ndarray) -> np.ndarray:
    """Normalise per-bin mean amplitudes (..., K) to a distribution P (..., K).

    An all-zero row (silent amplitude) becomes uniform.
    """
    mean_amp = np.asarray(mean_amp, dtype=np.float64)
    total = mean_amp.sum(axis=-1, keepdims=True)
    uniform = np.full_like(mean_amp, 1.0 / mean_amp.shape[-1])
    return np.where(total > 0, mean_amp / np.where(total > 0, total, 1.0), uniform)


def tort_mi_from_binned(mean_amp: np.ndarray, axis: int = -1) -> np.ndarray:
    """Tort MI = (ln K − H(P)) / ln K from per-bin mean amplitudes m along ``axis`` (K bins).

    P = m / M with M = Σ m, so Σ P ln P = (Σ m ln m) / M − ln M, with 0 · ln 0 = 0; an
    all-zero amplitude gives MI 0. Values within rounding of 0 (FFT path) contribute ~0.

    Parameters
    ----------
    mean_amp : np.ndarray, shape (..., K, ...)
        Non-negative mean amplitude per phase bin.
    axis : int
        The bin axis.

    Returns
    -------
    np.ndarray
        MI in [0, 1], ``mean_amp``'s shape without ``axis``.
    """
    m = np.asarray(mean_amp, dtype=np.float64)
    k = m.shape[axis]
    total = m.sum(axis=axis)
    mlogm = np.maximum(m, 1e-300)
    np.log(mlogm, out=mlogm)
    mlogm *= m
    safe = np.where(total > 0, total, 1.0)
    plogp = np.where(total > 0, mlogm.sum(axis=axis) / safe - np.log(safe), -np.log(k))
    return (np.log(k) + plogp) / np.log(k)


def modulation_index(phase: np.ndarray, amplitude: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Tort modulation index, in [0, 1], shape (...) for inputs (..., T).

    Examples
    --------
    >>> phi = np.linspace(-np.pi, np.pi, 360, endpoint=False)
    >>> float(modulation_index(phi, np.ones(360)))
    0.0
    """
    return tort_mi_from_binned(binned_amplitude(phase, amplitude, n_bins))


def mean_vector(phase: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """Complex mean vector (1/T) Σ_t A_t e^{iφ_t}, shape (...); its angle: preferred phase."""
    amplitude = np.asarray(amplitude, dtype=np.float64)
    return (amplitude * np.exp(1j * np.asarray(phase, dtype=np.float64))).mean(axis=-1)


def mean_vector_length(phase: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """Canolty MVL = |(1/T) Σ_t A_t e^{iφ_t}| with the raw amplitude, shape (...).

    Examples
    --------
    >>> phi = np.linspace(-np.pi, np.pi, 360, endpoint=False)
    >>> round(float(mean_vector_length(phi, 1 + np.cos(phi - 1.0))), 12)
    0.5
    """
    return np.abs(mean_vector(phase, amplitude))


def preferred_phase(phase: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """Phase (rad, (−π, π]) of largest mean amplitude: the angle of the mean vector."""
    return np.angle(mean_vector(phase, amplitude))
