"""Circular-shift surrogates for PAC, evaluated for all shifts at once by FFT.

A surrogate keeps the phase series and circularly shifts the amplitude series by k samples,
``A_k[t] = A[(t − k) mod T]`` (= ``np.roll(A, k)``), destroying their alignment while keeping
both spectra. Block swap is the shift k = cut, and SPARSE's cut-and-reverse equals a shift of
the reversed series. Shifts closer than ``min_shift`` to 0 (or T) are excluded: they leave the
amplitude nearly aligned with the phase (SPARSE's cut-and-reverse surrogate keeps much of
that alignment when the cut falls near either end).

For every bin k of the 18 phase bins the surrogate bin sums are the circular
cross-correlation of the bin indicator 1[bin(φ_t) = k] with A, and the MVL components are
those of cos φ and sin φ with A. One real FFT per series and one inverse FFT per test give
them for all T shifts exactly (to floating-point rounding), instead of one pass per shift.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import fft as sfft

from .pac import (
    N_BINS,
    mean_vector_length,
    modulation_index,
    phase_bin_indices,
    tort_mi_from_binned,
)

__all__ = [
    "MAX_SHIFT_FRACTION", "MinShift", "admissible_shifts", "amplitude_spectra",
    "default_min_shift", "draw_shifts", "min_shift", "pac_from_spectra", "phase_spectra",
    "surrogate_pac_fft", "surrogate_pac_loop"
]

#: A minimum shift never exceeds this share of the series length, so that at least half of all
#: shifts (k in [m, n − m]) stay admissible. One period of delta's lower edge (0.5 Hz: 2 s)
#: does not fit in a 2.5-s utterance; the cap is then applied and reported, never silently.
MAX_SHIFT_FRACTION = 0.25


class MinShift(NamedTuple):
    """A minimum circular shift: the value asked for and the value used, in samples."""

    asked: int
    used: int

    @property
    def capped(self) -> bool:
        """Whether the cap (:data:`MAX_SHIFT_FRACTION` of the series) lowered the value."""
        return self.used < self.asked


def min_shift(n: int, fs: float, phase_low_hz: float, asked: int | None = None) -> MinShift:
    """The minimum circular shift for a series of ``n`` samples: asked, and used.

    Asked: ``asked`` samples, or by default one period of the phase band's lower edge,
    ceil(fs / phase_low_hz); a shorter shift would leave the surrogate partly aligned with the
    phase (too similar to the original under coupling). Used: the asked value capped at
    ``MAX_SHIFT_FRACTION · n`` (at least 1). This is the only place where the minimum shift is
    decided; the report prints both values when they differ.

    Excluding the shifts near 0 removes the surrogates most correlated with the observed
    value, which makes a single series' test slightly liberal under the null (see
    :data:`sparse.analysis.batch.UTTERANCE_FPR`); ``asked = 1`` (all shifts) is exact for
    circularly stationary signals.

    Examples
    --------
    >>> min_shift(1500, 500.0, 4.0)
    MinShift(asked=125, used=125)
    >>> min_shift(1250, 500.0, 0.5).capped
    True
    """
    wanted = int(math.ceil(fs / phase_low_hz)) if asked is None else int(asked)
    wanted = max(wanted, 1)
    return MinShift(wanted, min(wanted, max(int(n * MAX_SHIFT_FRACTION), 1)))


def default_min_shift(n: int, fs: float, phase_low_hz: float) -> int:
    """The minimum shift used by default: :func:`min_shift` ``(n, fs, phase_low_hz).used``.

    Examples
    --------
    >>> default_min_shift(1500, 500.0, 4.0)
    125
    """
    return min_shift(n, fs, phase_low_hz).used


def admissible_shifts(n: int, min_shift: int) -> np.ndarray:
    """All shifts k with min_shift ≤ k ≤ n − min_shift, shape (n − 2·min_shift + 1,)."""
    if min_shift < 1 or n - 2 * min_shift < 0:
        raise ValueError(f"min_shift {min_shift} must be in [1, {n // 2}] for length {n}")
    return np.arange(min_shift, n - min_shift + 1)


def draw_shifts(n: int, n_surrogates: int, min_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shifts for ``n_surrogates`` surrogates, distinct, sorted.

    If there are no more admissible shifts than requested, all of them are used (the test is
    then exhaustive and deterministic); otherwise ``n_surrogates`` are drawn without
    replacement with ``rng``.

    Examples
    --------
    >>> draw_shifts(1500, 1000, 150, np.random.default_rng(0)).shape
    (1000,)
    """
    allowed = admissible_shifts(n, min_shift)
    if allowed.size <= n_surrogates:
        return allowed
    return np.sort(rng.choice(allowed, size=n_surrogates, replace=False))


def surrogate_pac_loop(
    phase: np.ndarray, amplitude: np.ndarray, shifts: np.ndarray, n_bins: int = N_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Reference: MI and MVL for each shifted amplitude, one surrogate at a time.

    Parameters
    ----------
    phase, amplitude : np.ndarray, shape (T,)
    shifts : np.ndarray of int, shape (S,)

    Returns
    -------
    (np.ndarray, np.ndarray)
        MI (S,) and MVL (S,); shift 0 gives the observed values.
    """
    mi = np.empty(len(shifts))
    mvl = np.empty(len(shifts))
    for i, k in enumerate(shifts):
        shifted = np.roll(amplitude, int(k))
        mi[i] = modulation_index(phase, shifted, n_bins)
        mvl[i] = mean_vector_length(phase, shifted)
    return mi, mvl


def phase_spectra(phase: np.ndarray, n_bins: int = N_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Real FFTs of the phase-bin indicators, cos φ and sin φ, and the bin counts.

    Parameters
    ----------
    phase : np.ndarray, shape (..., T)

    Returns
    -------
    (np.ndarray, np.ndarray)
        Spectra (..., n_bins + 2, T // 2 + 1) complex128 (rows: bins, cos, sin) and
        counts (..., n_bins).
    """
    phase = np.asarray(phase, dtype=np.float64)
    onehot = phase_bin_indices(phase, n_bins)[..., None, :] == np.arange(n_bins)[:, None]
    rows = np.concatenate(
        [onehot.astype(np.float64), np.cos(phase)[..., None, :], np.sin(phase)[..., None, :]],
        axis=-2,
    )
    return sfft.rfft(rows, axis=-1, workers=1), onehot.sum(axis=-1)


def amplitude_spectra(amplitude: np.ndarray) -> np.ndarray:
    """Real FFT of the amplitude series, (..., T) → (..., T // 2 + 1) complex128."""
    return sfft.rfft(np.asarray(amplitude, dtype=np.float64), axis=-1, workers=1)


def pac_from_spectra(
    phase_spec: np.ndarray, counts: np.ndarray, amp_spec: np.ndarray, n: int, shifts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """MI and MVL for the amplitude shifted by each of ``shifts``, from precomputed spectra.

    Σ_t x[t] A[t − k] = irfft(rfft(x) · conj(rfft(A)))[k] for every row x of the phase rows.

    Parameters
    ----------
    phase_spec : np.ndarray, shape (..., K + 2, F)
        From :func:`phase_spectra`.
    counts : np.ndarray, shape (..., K)
    amp_spec : np.ndarray, shape (..., F)
        From :func:`amplitude_spectra`; leading axes broadcast with ``phase_spec``'s.
    n : int
        Series length T.
    shifts : np.ndarray of int, shape (S,)

    Returns
    -------
    (np.ndarray, np.ndarray)
        MI (..., S) and MVL (..., S).
    """
    corr = sfft.irfft(phase_spec * np.conj(amp_spec)[..., None, :], n=n, axis=-1, workers=1)
    corr = np.take(corr, np.asarray(shifts), axis=-1)  # (..., K + 2, S)
    n_bins = counts.shape[-1]
    inv_counts = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    mi = tort_mi_from_binned(corr[..., :n_bins, :] * inv_counts[..., :, None], axis=-2)
    mvl = np.hypot(corr[..., n_bins, :], corr[..., n_bins + 1, :]) / n
    return mi, mvl


def surrogate_pac_fft(
    phase: np.ndarray, amplitude: np.ndarray, shifts: np.ndarray, n_bins: int = N_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """MI and MVL (..., S) for all shifts at once; equals :func:`surrogate_pac_loop`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> phase, amp = rng.uniform(-3, 3, (4, 200)), rng.random((4, 200))
    >>> mi, mvl = surrogate_pac_fft(phase, amp, np.arange(10))
    >>> mi.shape
    (4, 10)
    """
    spec, counts = phase_spectra(phase, n_bins)
    return pac_from_spectra(spec, counts, amplitude_spectra(amplitude), np.shape(phase)[-1], shifts)
