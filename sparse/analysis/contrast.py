"""Paired speech-vs-noise contrast: sign-flip permutation test, effect sizes, bootstrap CIs.

Each utterance u is heard twice: as speech and as a matched noise input of the same length
(and, by default, the same magnitude spectrum). For one test (population pair × band pair)
the paired difference is d_u = s_u − n_u of a PAC statistic. Under the null hypothesis that
the condition labels are exchangeable within each utterance (speech drives no coupling that
its matched noise does not), every d_u is as likely as −d_u; flipping the signs of the d_u
at random (= swapping the labels of whole utterances) gives the null distribution of
T = |mean_u d_u|. For a fixed set of |d_u|, the paired t-statistic is a monotone function of
the mean, so this test is the permutation version of the paired t-test. With few utterances
every sign pattern is used (exact test); otherwise random patterns with the +1 rule. The same
sign patterns serve every test of a family, as in a max-statistic or FDR procedure.

Effect sizes: the mean difference (in the statistic's units) and Cohen's d_z = mean / s.d. of
the differences, each with a percentile bootstrap confidence interval over utterances (the
same resampled utterance sets for every test; seeded).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .stats import permutation_pvalue

__all__ = ["Contrast", "bootstrap_effects", "paired_contrast", "sign_flips"]


class Contrast(NamedTuple):
    """Speech − noise per test; arrays share the tests' shape (...)."""

    difference: np.ndarray  # mean of d_u over the utterances where the test is valid
    ci_low: np.ndarray  # bootstrap CI of the mean difference
    ci_high: np.ndarray
    dz: np.ndarray  # mean / s.d. (ddof 1) of d_u; NaN with < 2 utterances or s.d. 0
    dz_low: np.ndarray
    dz_high: np.ndarray
    p: np.ndarray  # two-sided sign-flip p-value; NaN where no utterance is valid
    n_utterances: np.ndarray  # valid utterances per test
    n_permutations: int  # sign patterns in the null, the observed one included
    exhaustive: bool  # every sign pattern was used (exact p)


def sign_flips(n_utts: int, n_permutations: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, bool]:
    """Sign patterns (±1) other than the identity, and whether they are all of them.

    If 2^U − 1 ≤ ``n_permutations`` all non-identity patterns are returned (in a fixed order),
    so that with :func:`~.stats.permutation_pvalue` (+1 rule: the identity) the p-value is
    exact; otherwise ``n_permutations`` patterns drawn uniformly with replacement.

    Returns
    -------
    (np.ndarray, bool)
        Patterns (N, U) float64 and the exhaustive flag.

    Examples
    --------
    >>> flips, exact = sign_flips(3, 1000, np.random.default_rng(0))
    >>> flips.shape, exact
    ((7, 3), True)
    """
    if n_utts < 1:
        raise ValueError("the contrast needs at least one utterance")
    if n_utts < 31 and 2**n_utts - 1 <= n_permutations:
        codes = np.arange(1, 2**n_utts)[:, None] >> np.arange(n_utts)
        return 1.0 - 2.0 * (codes & 1), True
    return rng.choice(np.array([-1.0, 1.0]), size=(n_permutations, n_utts)), False


def bootstrap_effects(diff: np.ndarray, valid: np.ndarray, n_boot: int, level: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Percentile bootstrap CIs of the mean difference and of d_z over utterances.

    Parameters
    ----------
    diff : np.ndarray, shape (U, M)
        Paired differences (0 where not valid).
    valid : np.ndarray of bool, shape (U, M)
    n_boot : int
        Resamples of the U utterances (with replacement; the same for every test).
    level : float
        Confidence level, e.g. 0.95.

    Returns
    -------
    tuple of np.ndarray, each (M,)
        Mean low, mean high, d_z low, d_z high (NaN where undefined).
    """
    u = diff.shape[0]
    weights = rng.multinomial(u, np.full(u, 1.0 / u), size=n_boot).astype(np.float64)  # (B, U)
    v = valid.astype(np.float64)
    d = np.where(valid, diff, 0.0)
    count = weights @ v
    total = weights @ d
    squares = weights @ (d * d)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / count
        var = (squares - count * mean**2) / (count - 1)
        dz = np.where(var > 0, mean / np.sqrt(np.where(var > 0, var, 1.0)), np.nan)
    mean = np.where(count > 0, mean, np.nan)
    q = [(1 - level) / 2, (1 + level) / 2]
    out = []
    for x in (mean, dz):
        finite = np.isfinite(x).any(axis=0)
        bounds = np.full((2, x.shape[1]), np.nan)
        if finite.any():
            bounds[:, finite] = np.nanquantile(x[:, finite], q, axis=0)
        out += [bounds[0], bounds[1]]
    return tuple(out)


def paired_contrast(speech: np.ndarray, noise: np.ndarray, valid: np.ndarray | None,
                    rng: np.random.Generator, n_permutations: int = 9999, n_boot: int = 2000,
                    level: float = 0.95) -> Contrast:
    """Two-sided sign-flip test and effect sizes of speech − noise, for every test at once.

    Parameters
    ----------
    speech, noise : np.ndarray, shape (U, ...)
        A statistic per utterance (first axis) and test (other axes), paired by utterance.
    valid : np.ndarray of bool, shape (U, ...), optional
        Where a pair (speech, noise) is usable (e.g. no silent population); an invalid pair
        counts as d_u = 0, which no sign flip changes, so the test stays exact. Default: all.
    rng : np.random.Generator
        For the sign patterns (when not exhaustive) and the bootstrap.
    n_permutations : int
        Random sign patterns (fewer if every pattern can be enumerated).
    n_boot : int
        Bootstrap resamples.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    Contrast
        Arrays of shape (...).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = rng.normal(1.0, 1.0, (20, 3)); n = rng.normal(0.0, 1.0, (20, 3))
    >>> c = paired_contrast(s, n, None, rng, n_permutations=999, n_boot=200)
    >>> c.p.shape, bool(c.p.max() < 0.05), c.exhaustive
    ((3,), True, False)
    """
    speech, noise = np.asarray(speech, np.float64), np.asarray(noise, np.float64)
    if speech.shape != noise.shape:
        raise ValueError(f"speech {speech.shape} and noise {noise.shape} must be paired")
    shape, u = speech.shape[1:], speech.shape[0]
    valid = np.ones(speech.shape, bool) if valid is None else np.broadcast_to(valid, speech.shape)
    valid = valid & np.isfinite(speech) & np.isfinite(noise)
    d = np.where(valid, speech - noise, 0.0).reshape(u, -1)
    v = valid.reshape(u, -1)
    n_valid = v.sum(axis=0)
    flips, exhaustive = sign_flips(u, n_permutations, rng)
    observed = np.abs(d.sum(axis=0))  # |mean| up to the fixed factor 1 / n_valid
    null = np.abs(flips @ d)  # (N, M)
    p = np.where(n_valid > 0, permutation_pvalue(null.T, observed), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n_valid > 0, d.sum(axis=0) / n_valid, np.nan)
        sd = np.sqrt(np.where(v, (d - mean) ** 2, 0.0).sum(axis=0) / (n_valid - 1))
        dz = np.where((n_valid > 1) & (sd > 0), mean / sd, np.nan)
    bounds = bootstrap_effects(d, v, n_boot, level, rng)
    fields = [mean, *bounds[:2], dz, *bounds[2:], p, n_valid]
    return Contrast(*(x.reshape(shape) for x in fields), n_permutations=len(flips) + 1,
                    exhaustive=exhaustive)
