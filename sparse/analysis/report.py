"""PAC tests over a :class:`~sparse.analysis.recording.Recording`: within each condition and the
speech-vs-noise contrast; CSV output (the text report is :mod:`.report_text`).

Every (phase population, amplitude population) pair i ≤ j × phase band × amplitude band is
tested with Tort MI and Canolty MVL at three levels:

* per utterance: each utterance's statistic against its own circular-shift surrogates;
* group: the mean over utterances against means of surrogates (one test per pair and band
  pair, exact under the null);
* contrast: speech against its matched noise, paired by utterance (sign-flip permutation,
  :mod:`.contrast`). This answers "does speech drive coupling that noise does not?".

p-values use the +1 rule; Benjamini–Hochberg FDR at α is applied per condition, metric and
level (within conditions) and per metric (contrast), over all population pairs × band pairs
(× utterances for the per-utterance level); the adjusted value q is reported next to p.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .batch import PACTests, ordered_pairs, pac_tests
from .contrast import Contrast, paired_contrast
from .recording import CONDITIONS, Recording
from .signals import BANDS
from .stats import benjamini_hochberg

__all__ = [
    "CONTRAST_STATISTICS", "METRICS", "METRIC_NAMES", "ContrastResult", "PACResult", "PACRun",
    "PACSettings", "adjusted", "condition_signals", "condition_tests", "contrast_rows",
    "contrast_tests", "csv_rows", "direction", "run_pac", "silent_pairs", "usable_bands",
    "write_csv"
]

METRICS = ("mi", "mvl")
METRIC_NAMES = {"mi": "Tort MI", "mvl": "Canolty MVL"}
#: Per-utterance statistic compared between speech and noise: ``z`` = in units of the
#: utterance's own surrogate distribution (removes the bias of MI/MVL that depends on the
#: signals' spectra and length), ``raw`` = the MI / MVL value itself.
CONTRAST_STATISTICS = ("z", "raw")


@dataclass
class PACSettings:
    """What to test and how (bands by name from :data:`~sparse.analysis.signals.BANDS`)."""

    populations: list[str]
    phase_bands: list[str]
    amplitude_bands: list[str]
    n_surrogates: int = 1000
    alpha: float = 0.05
    min_shift_s: float | None = None  # None: one period of the phase band's lower edge
    trim_s: float = 0.0  # dropped at both ends of each utterance after filtering (s)
    contrast_statistic: str = "z"
    contrast_permutations: int = 9999
    bootstrap_samples: int = 2000
    ci_level: float = 0.95

    def __post_init__(self) -> None:
        if self.contrast_statistic not in CONTRAST_STATISTICS:
            raise ConfigError(f"contrast_statistic must be one of {CONTRAST_STATISTICS}, "
                              f"got {self.contrast_statistic!r}")
        if not 0.0 < self.ci_level < 1.0:
            raise ConfigError(f"ci_level must be in (0, 1), got {self.ci_level}")

    def min_shift_samples(self, fs: float) -> int | None:
        """The minimum shift asked for, in samples (None: one period of each band's edge)."""
        return None if self.min_shift_s is None else max(1, int(round(self.min_shift_s * fs)))


@dataclass
class PACResult:
    """Tests of one condition, with BH-adjusted p-values (q) for each level and metric.

    q is NaN for tests left out of the family: a population absent in this condition
    (``missing``) or silent (in that utterance; in every utterance for the group test).
    """

    per_utt: PACTests  # arrays (U, pairs, Bp, Ba)
    group: PACTests  # arrays (pairs, Bp, Ba)
    q: dict[str, np.ndarray]  # 'utt_mi', 'utt_mvl', 'group_mi', 'group_mvl'
    missing: np.ndarray  # (pairs,) bool: a population of the pair is absent in this condition
    testable: np.ndarray  # (U, pairs) bool: present and not silent in that utterance


@dataclass
class ContrastResult:
    """Speech − noise for one metric; arrays (pairs, Bp, Ba)."""

    tests: Contrast
    q: np.ndarray  # BH-adjusted p over the metric's family; NaN where untested
    speech: np.ndarray  # mean statistic over the valid utterances, speech
    noise: np.ndarray  # the same for the noise inputs


@dataclass
class PACRun:
    """Everything tested: per condition, and the contrast per metric."""

    conditions: dict[str, PACResult]
    contrast: dict[str, ContrastResult] = field(default_factory=dict)


def usable_bands(names: Sequence[str], fs: float) -> tuple[list[str], list[str]]:
    """Split band names into those below Nyquist (usable) and those dropped."""
    keep = [n for n in names if BANDS[n][1] < fs / 2]
    return keep, [n for n in names if n not in keep]


def condition_signals(rec: Recording, cond: str, pops: Sequence[str]) -> tuple[list, np.ndarray]:
    """Per utterance (P, T) arrays of ``pops`` (zeros where absent) and which are absent."""
    absent = np.array([p not in rec.signals[cond][0] for p in pops]) if rec.signals[cond] else \
        np.ones(len(pops), bool)
    utts = []
    for sig in rec.signals[cond]:
        steps = min(len(v) for v in sig.values())
        utts.append(np.stack([sig[p][:steps] if p in sig else np.zeros(steps) for p in pops]))
    return utts, absent


def silent_pairs(rec: Recording, cond: str, pops: Sequence[str],
                 pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """(U, pairs) bool: the phase or amplitude population did not spike in the utterance.

    Such tests cannot show coupling (a silent signal is all zeros, MI = MVL = 0, p = 1); they
    are left out of the FDR family rather than diluting it, and reported as 'silent'.
    """
    flags = np.array([[f.get(p, False) for p in pops] for f in rec.silent[cond]], dtype=bool)
    flags = flags.reshape(len(rec.silent[cond]), len(pops))
    return np.stack([flags[:, i] | flags[:, j] for i, j in pairs], axis=1)


def adjusted(p: np.ndarray, testable: np.ndarray, alpha: float) -> np.ndarray:
    """BH-adjusted p over the entries where ``testable`` (broadcast to p), NaN elsewhere."""
    valid = np.broadcast_to(testable, p.shape) & np.isfinite(p)
    q = np.full(p.shape, np.nan)
    q[valid] = benjamini_hochberg(p[valid], alpha)[1]
    return q


def condition_tests(rec: Recording, cond: str, cfg: PACSettings, rng: np.random.Generator,
                   progress: bool = True) -> PACResult:
    """Per-utterance and group tests of one condition, with BH per metric and level."""
    pairs = ordered_pairs(len(cfg.populations))
    utts, absent = condition_signals(rec, cond, cfg.populations)
    per, group = pac_tests(utts, rec.fs, pairs, [BANDS[b] for b in cfg.phase_bands],
                           [BANDS[b] for b in cfg.amplitude_bands], cfg.n_surrogates, rng,
                           min_shift=cfg.min_shift_samples(rec.fs), progress=progress,
                           trim=int(round(cfg.trim_s * rec.fs)), desc=f"PAC tests, {cond}")
    missing = np.array([absent[i] or absent[j] for i, j in pairs])
    silent = silent_pairs(rec, cond, cfg.populations, pairs)
    testable = ~missing & ~silent
    q = {}
    for m in METRICS:
        q[f"utt_{m}"] = adjusted(getattr(per, "p_" + m), testable[..., None, None], cfg.alpha)
        q[f"group_{m}"] = adjusted(getattr(group, "p_" + m),
                                   (~missing & ~silent.all(0))[..., None, None], cfg.alpha)
    return PACResult(per, group, q, missing, testable)


def contrast_tests(speech: PACResult, noise: PACResult, cfg: PACSettings,
                  rng: np.random.Generator) -> dict[str, ContrastResult]:
    """Speech − noise per metric: sign-flip test over utterances, effect sizes, BH."""
    valid = (speech.testable & noise.testable)[..., None, None]
    out = {}
    for m in METRICS:
        key = f"z_{m}" if cfg.contrast_statistic == "z" else m
        s, n = getattr(speech.per_utt, key), getattr(noise.per_utt, key)
        tests = paired_contrast(s, n, valid, rng, cfg.contrast_permutations,
                                cfg.bootstrap_samples, cfg.ci_level)
        full = np.broadcast_to(valid, s.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = [np.where(full, x, 0.0).sum(0) / full.sum(0) for x in (s, n)]
        out[m] = ContrastResult(tests, adjusted(tests.p, tests.n_utterances > 0, cfg.alpha),
                                *means)
    return out


def run_pac(rec: Recording, cfg: PACSettings, rng: np.random.Generator,
            progress: bool = True) -> PACRun:
    """All PAC tests for both conditions (same surrogate settings) and their contrast."""
    conditions = {c: condition_tests(rec, c, cfg, rng, progress) for c in CONDITIONS}
    return PACRun(conditions, contrast_tests(conditions["speech"], conditions["noise"], cfg, rng))


def _cells(cfg: PACSettings):
    """(k, b, a, phase population, amplitude population, phase band, amplitude band)."""
    for k, (i, j) in enumerate(ordered_pairs(len(cfg.populations))):
        for b, pband in enumerate(cfg.phase_bands):
            for a, aband in enumerate(cfg.amplitude_bands):
                yield k, b, a, cfg.populations[i], cfg.populations[j], pband, aband


def _g(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:.6g}"


def csv_rows(rec: Recording, cfg: PACSettings, run: PACRun) -> list[dict]:
    """Within-condition tests: one row per condition × utterance (or 'GROUP') × test."""
    rows = []
    for cond, res in run.conditions.items():
        levels = [(rec.ids[u], res.per_utt, "utt", (u,)) for u in range(len(rec.ids))]
        levels.append(("GROUP", res.group, "group", ()))
        for uid, tests, level, lead in levels:
            for k, b, a, ppop, apop, pband, aband in _cells(cfg):
                idx = (*lead, k, b, a)
                row = dict(condition=cond, level=level, utterance=uid, phase_population=ppop,
                           amplitude_population=apop, phase_band=pband, amplitude_band=aband,
                           silent=_silent(rec, cond, lead, ppop, apop))
                na = bool(res.missing[k])
                for m in METRICS:
                    q = res.q[f"{level}_{m}"][idx]
                    row[m] = "" if na else _g(getattr(tests, m)[idx])
                    row[f"z_{m}"] = "" if na else _g(getattr(tests, "z_" + m)[idx])
                    row[f"p_{m}"] = "" if na else _g(getattr(tests, "p_" + m)[idx])
                    untested = na or not np.isfinite(q)
                    row[f"q_{m}"] = "" if untested else _g(q)
                    row[f"significant_{m}"] = "" if untested else str(bool(q <= cfg.alpha))
                rows.append(row)
    return rows


def contrast_rows(cfg: PACSettings, run: PACRun) -> list[dict]:
    """The contrast: one row per test (population pair × band pair), both metrics."""
    rows = []
    for k, b, a, ppop, apop, pband, aband in _cells(cfg):
        row = dict(phase_population=ppop, amplitude_population=apop, phase_band=pband,
                   amplitude_band=aband)
        for m, res in run.contrast.items():
            t, idx = res.tests, (k, b, a)
            row[f"n_utterances_{m}"] = int(t.n_utterances[idx])
            row[f"speech_{m}"] = _g(res.speech[idx])
            row[f"noise_{m}"] = _g(res.noise[idx])
            for name in ("difference", "ci_low", "ci_high", "dz", "dz_low", "dz_high", "p"):
                row[f"{name}_{m}"] = _g(getattr(t, name)[idx])
            q = res.q[idx]
            row[f"q_{m}"] = _g(q)
            row[f"significant_{m}"] = "" if not np.isfinite(q) else str(bool(q <= cfg.alpha))
            row[f"direction_{m}"] = direction(t.difference[idx])
        rows.append(row)
    return rows


def direction(difference: float) -> str:
    """'speech>noise', 'noise>speech', or '' (zero or undefined)."""
    if not np.isfinite(difference) or difference == 0:
        return ""
    return "speech>noise" if difference > 0 else "noise>speech"


def _silent(rec: Recording, cond: str, lead: tuple, *pops: str) -> str:
    """Populations of the pair without a spike in the utterance (all utterances for GROUP)."""
    flags = [rec.silent[cond][lead[0]]] if lead else rec.silent[cond]
    return " ".join(sorted({p.replace(" ", "_") for p in pops if all(f.get(p) for f in flags)}))


def write_csv(rows: list[dict], path: Path) -> None:
    """Write the rows with a header line."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
