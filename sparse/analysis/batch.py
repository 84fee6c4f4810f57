"""PAC significance over many population pairs × band pairs × utterances.

Each population signal is filtered once per band and transformed once (FFT of its phase-bin
indicators or of its amplitude); each test then costs one inverse FFT that yields the
observed value (shift 0) and every surrogate at once (see :mod:`.surrogates`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from ..errors import DataError
from .pac import N_BINS
from .signals import analytic, bandpass
from .stats import permutation_pvalue
from .surrogates import (
    amplitude_spectra,
    draw_shifts,
    pac_from_spectra,
    phase_spectra,
)
from .surrogates import min_shift as shift_rule

__all__ = [
    "UTTERANCE_FPR", "PACTests", "UtteranceNull", "band_analytic", "far_masks", "group_test",
    "ordered_pairs", "pac_tests", "pac_tests_utterance", "surrogate_shifts", "surrogate_z",
    "used_min_shifts"
]

Band = tuple[float, float]


#: Per-utterance false-positive rate at α = 0.05 (share of raw p < 0.05) per metric and phase
#: band, measured on independent white noise: 2 s at 500 Hz, low/high-gamma amplitude,
#: default minimum shift (:func:`.surrogates.min_shift`; delta's is capped at 0.5 s), 399
#: surrogates, 800 series. The report quotes these numbers and
#: tests/analysis/test_significance.py re-measures them. Single short series are liberal
#: because MI and MVL vary slowly with the shift (few effectively independent surrogates)
#: and the observation's correlated neighbours are excluded; the group test and the
#: speech-vs-noise contrast are exact.
UTTERANCE_FPR: dict[str, dict[str, float]] = {
    "mi": {"delta": 0.074, "theta": 0.073, "alpha": 0.075, "beta": 0.061},
    "mvl": {"delta": 0.185, "theta": 0.070, "alpha": 0.065, "beta": 0.064},
}


class PACTests(NamedTuple):
    """Observed statistics and p-values, each of shape (pairs, phase bands, amplitude bands)
    for one utterance, or (utterances, pairs, phase bands, amplitude bands) when stacked.

    ``z_mi`` / ``z_mvl``: the statistic in units of its own surrogate distribution,
    (observed − mean) / s.d. over the surrogates used for p (0 when they are all equal,
    e.g. a silent amplitude); for the group, the mean over utterances.
    """

    mi: np.ndarray
    mvl: np.ndarray
    p_mi: np.ndarray
    p_mvl: np.ndarray
    n_surrogates: np.ndarray  # surrogates actually used, per phase band (or per utt × band)
    z_mi: np.ndarray | None = None
    z_mvl: np.ndarray | None = None
    min_shift: np.ndarray | None = None  # samples used per phase band (or per utt × band)


class UtteranceNull(NamedTuple):
    """Surrogate statistics of one utterance, each (phase bands, amplitude bands, pairs, S)."""

    mi: np.ndarray
    mvl: np.ndarray


def band_analytic(
    signals: np.ndarray, fs: float, bands: Sequence[Band], order: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Band-pass each signal in each band, then Hilbert phase and amplitude.

    Parameters
    ----------
    signals : np.ndarray, shape (P, T)
    fs : float
        Sampling rate in Hz.
    bands : sequence of (low, high) in Hz, length B

    Returns
    -------
    (np.ndarray, np.ndarray)
        Phase (rad) and amplitude, each (B, P, T).
    """
    filtered = np.stack([bandpass(signals, band, fs, order) for band in bands])
    return analytic(filtered)


def surrogate_shifts(n: int, n_surrogates: int, rng: np.random.Generator) -> np.ndarray:
    """0 (the observation) followed by ``n_surrogates`` distinct shifts drawn uniformly from
    1 … n − 1 (all of them, sorted, if there are not more), shape (S + 1,)."""
    return np.concatenate([[0], draw_shifts(n, n_surrogates, 1, rng)])


def far_masks(
    shifts: np.ndarray, n: int, fs: float, phase_bands: Sequence[Band], min_shift: int | None = None
) -> np.ndarray:
    """Which surrogate shifts are at least the minimum shift away from 0, per phase band.

    Parameters
    ----------
    shifts : np.ndarray of int, shape (S + 1,)
        From :func:`surrogate_shifts` (index 0 is the observation).
    min_shift : int, optional
        Asked for, in samples; default one period of the band's lower edge. The value used is
        capped by :func:`.surrogates.min_shift`.

    Returns
    -------
    np.ndarray of bool, shape (len(phase_bands), S)
    """
    k = np.asarray(shifts[1:])
    dist = np.minimum(k, n - k)
    return np.stack([dist >= m for m in used_min_shifts(n, fs, phase_bands, min_shift)])


def used_min_shifts(n: int, fs: float, phase_bands: Sequence[Band],
                    min_shift: int | None = None) -> np.ndarray:
    """The minimum shift (samples) used per phase band for a series of ``n`` samples.

    Examples
    --------
    >>> used_min_shifts(1250, 500.0, [(0.5, 4.0), (4.0, 8.0)]).tolist()
    [312, 125]
    """
    return np.array([shift_rule(n, fs, band[0], min_shift).used for band in phase_bands])


def surrogate_z(observed: np.ndarray, null: np.ndarray, use: np.ndarray) -> np.ndarray:
    """(observed − mean) / s.d. of the surrogates in ``use``; 0 where the s.d. is 0.

    Parameters
    ----------
    observed : np.ndarray, shape (...)
    null : np.ndarray, shape (..., S)
    use : np.ndarray of bool, shape (S,)

    Examples
    --------
    >>> null, use = np.array([1.0, 2.0, 3.0, 9.0]), np.array([1, 1, 1, 0], bool)
    >>> round(float(surrogate_z(np.array(3.0), null, use)), 6)
    1.224745
    """
    if not np.any(use):
        return np.zeros(np.shape(observed))
    sel = np.asarray(null)[..., np.asarray(use, bool)]
    mean, sd = sel.mean(axis=-1), sel.std(axis=-1)
    ok = sd > 1e-12 * np.maximum(np.abs(mean), 1e-300)
    return np.where(ok, (observed - mean) / np.where(ok, sd, 1.0), 0.0)


def pac_tests_utterance(
    signals: np.ndarray,
    fs: float,
    pairs: Sequence[tuple[int, int]],
    phase_bands: Sequence[Band],
    amp_bands: Sequence[Band],
    shifts: np.ndarray,
    min_shift: int | None = None,
    trim: int = 0,
    n_bins: int = N_BINS,
) -> tuple[PACTests, UtteranceNull]:
    """All PAC tests of one utterance: (phase population, amplitude population) × band pairs.

    Every shift's MI and MVL come from one inverse FFT per test. The utterance's p-values use
    only the surrogates at least ``min_shift`` from 0; all surrogates are returned for the
    group test (:func:`group_test`).

    Parameters
    ----------
    signals : np.ndarray, shape (P, T)
        Population signals (z-scored) at ``fs`` Hz.
    pairs : sequence of (i, j)
        Phase population i, amplitude population j.
    phase_bands, amp_bands : sequences of (low, high) in Hz
    shifts : np.ndarray of int, shape (S + 1,)
        0 followed by the surrogate shifts (:func:`surrogate_shifts`).
    min_shift : int, optional
        See :func:`far_masks`.
    trim : int
        Samples dropped at both ends after filtering and the Hilbert transform (onset
        transients of the network and filter edges), before any statistic; ``shifts`` must
        be drawn for the remaining ``T − 2·trim`` samples.

    Returns
    -------
    (PACTests, UtteranceNull)
        Arrays (len(pairs), len(phase_bands), len(amp_bands)) with ``n_surrogates`` the
        far surrogates per phase band; and all surrogate values (phase bands, amplitude
        bands, pairs, S).
    """
    n = signals.shape[-1] - 2 * trim
    pi, ai = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    phase = band_analytic(signals, fs, phase_bands)[0][..., trim : trim + n]
    amp = band_analytic(signals, fs, amp_bands)[1][..., trim : trim + n]
    amp_spec = amplitude_spectra(amp)[:, ai]  # (Ba, pairs, F): one FFT per population
    far = far_masks(shifts, n, fs, phase_bands, min_shift)
    shape = (len(pairs), len(phase_bands), len(amp_bands))
    out = {k: np.empty(shape) for k in ("mi", "mvl", "p_mi", "p_mvl", "z_mi", "z_mvl")}
    null: dict[str, list[np.ndarray]] = {"mi": [], "mvl": []}
    for b in range(len(phase_bands)):
        spec, counts = phase_spectra(phase[b], n_bins)  # (P, K+2, F), (P, K)
        mi, mvl = pac_from_spectra(spec[pi], counts[pi], amp_spec, n, shifts)  # (Ba, pairs, S+1)
        for name, stat in (("mi", mi), ("mvl", mvl)):
            out[name][:, b, :] = stat[..., 0].T
            out["p_" + name][:, b, :] = permutation_pvalue(stat[..., 1:], stat[..., 0], far[b]).T
            out["z_" + name][:, b, :] = surrogate_z(stat[..., 0], stat[..., 1:], far[b]).T
            null[name].append(stat[..., 1:])
    tests = PACTests(out["mi"], out["mvl"], out["p_mi"], out["p_mvl"], far.sum(axis=1),
                     out["z_mi"], out["z_mvl"], used_min_shifts(n, fs, phase_bands, min_shift))
    return tests, UtteranceNull(np.stack(null["mi"]), np.stack(null["mvl"]))


def group_test(observed: np.ndarray, nulls: Sequence[np.ndarray], rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """Test the mean statistic over utterances against means of independent surrogates.

    Surrogate s of the group is the mean over utterances of each utterance's surrogate s;
    the shifts are drawn independently per utterance, so these are independent draws of the
    null mean. Because they are drawn uniformly from all non-zero shifts (no minimum shift,
    a group), the test is exact for circularly stationary signals; near-zero shifts of
    single utterances hardly matter in a mean over many. An utterance with fewer surrogates
    (short, exhaustive) is resampled with replacement to the common count S.

    Parameters
    ----------
    observed : np.ndarray, shape (U, pairs, phase bands, amplitude bands)
    nulls : sequence of U arrays (phase bands, amplitude bands, pairs, S_u)

    Returns
    -------
    (np.ndarray, np.ndarray)
        Mean observed statistic and its p-value, each (pairs, phase bands, amplitude bands).
    """
    n_sur = max(x.shape[-1] for x in nulls)
    total = np.zeros(nulls[0].shape[:-1] + (n_sur,))
    for x in nulls:
        count = x.shape[-1]
        idx = np.arange(n_sur) if count == n_sur else rng.integers(0, count, n_sur)
        total += x[..., idx]
    mean_obs = observed.mean(axis=0)
    p = permutation_pvalue(total / len(nulls), mean_obs.transpose(1, 2, 0))
    return mean_obs, p.transpose(2, 0, 1)


def pac_tests(
    utterances: Sequence[np.ndarray],
    fs: float,
    pairs: Sequence[tuple[int, int]],
    phase_bands: Mapping[str, Band] | Sequence[Band],
    amp_bands: Mapping[str, Band] | Sequence[Band],
    n_surrogates: int,
    rng: np.random.Generator,
    min_shift: int | None = None,
    progress: bool = False,
    n_threads: int | None = None,
    trim: int = 0,
    desc: str = "PAC tests",
) -> tuple[PACTests, PACTests]:
    """:func:`pac_tests_utterance` for every utterance (lengths may differ), and the group test.

    Per utterance, ``n_surrogates`` shifts are drawn uniformly from all non-zero shifts
    (before any work, in utterance order, so the result does not depend on ``n_threads``).
    The utterance's own p-values use those at least the minimum shift away from 0, so no
    surrogate is trivially close to the original. Such p-values of one short series are
    liberal under the null (:data:`UTTERANCE_FPR`). The group test (mean over utterances vs
    means of all surrogates, :func:`group_test`) is exact; base claims about a population
    pair on it, and claims about speech against noise on :mod:`.contrast`.

    Parameters
    ----------
    utterances : sequence of np.ndarray, each (P, T_u)
    progress : bool
        Show a tqdm progress bar over utterances, labelled ``desc``.
    n_threads : int, optional
        Worker threads (default: the number of CPUs).
    trim : int
        Samples dropped at both ends of every utterance after filtering (see
        :func:`pac_tests_utterance`); utterances must be longer than ``2·trim + 3``.
    min_shift : int, optional
        Minimum shift in samples asked for the per-utterance p-values (default one period of
        the phase band's lower edge; capped per utterance by :func:`.surrogates.min_shift`).

    Returns
    -------
    (PACTests, PACTests)
        Per utterance: arrays (U, pairs, phase bands, amplitude bands); ``n_surrogates`` and
        ``min_shift`` (U, phase bands): the far surrogates and the minimum shift used. Group:
        arrays (pairs, phase bands, amplitude bands) of mean MI/MVL, their p-values and mean
        z; ``n_surrogates`` the common surrogate count.
    """
    pb = list(phase_bands.values()) if isinstance(phase_bands, Mapping) else list(phase_bands)
    ab = list(amp_bands.values()) if isinstance(amp_bands, Mapping) else list(amp_bands)
    if min(u.shape[-1] for u in utterances) < 2 * trim + 4:
        raise DataError(f"an utterance is too short to drop {trim} samples at each end")
    shifts = [surrogate_shifts(u.shape[-1] - 2 * trim, n_surrogates, rng) for u in utterances]

    def one(i: int) -> tuple[PACTests, UtteranceNull]:
        return pac_tests_utterance(utterances[i], fs, pairs, pb, ab, shifts[i], min_shift, trim)

    with ThreadPoolExecutor(max_workers=n_threads or os.cpu_count() or 1) as pool:
        jobs = pool.map(one, range(len(utterances)))
        if progress:
            from tqdm import tqdm

            jobs = tqdm(jobs, total=len(utterances), desc=desc, unit="utt")
        results = list(jobs)
    per_utt = PACTests(*(np.stack(field) for field in zip(*(r[0] for r in results), strict=True)))
    mi, p_mi = group_test(per_utt.mi, [r[1].mi for r in results], rng)
    mvl, p_mvl = group_test(per_utt.mvl, [r[1].mvl for r in results], rng)
    n_group = np.array(max(r[1].mi.shape[-1] for r in results))
    return per_utt, PACTests(mi, mvl, p_mi, p_mvl, n_group, per_utt.z_mi.mean(axis=0),
                             per_utt.z_mvl.mean(axis=0))


def ordered_pairs(n_populations: int) -> list[tuple[int, int]]:
    """Pairs (i, j) with 0 ≤ i ≤ j < n: phase from i, amplitude from j (SPARSE's convention).

    Examples
    --------
    >>> len(ordered_pairs(5))
    15
    """
    return [(i, j) for i in range(n_populations) for j in range(i, n_populations)]
