"""PAC significance over a :class:`~sparse.analysis.brain.Recording`, as CSV and text.

Every (phase population, amplitude population) pair i ≤ j × phase band × amplitude band is
tested per utterance and for the group (mean over utterances), for speech and for the
Gaussian-noise control, with Tort MI and Canolty MVL. p-values use the +1 rule; Benjamini–
Hochberg FDR at α is applied per condition, metric and level (utterance / group) and the
adjusted value q is reported next to p.
"""

from __future__ import annotations

import csv
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .batch import PACTests, ordered_pairs, pac_tests
from .brain import CONDITIONS, Recording
from .signals import BANDS
from .stats import benjamini_hochberg
from .surrogates import default_min_shift

METRICS = ("mi", "mvl")


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


def run_pac(rec: Recording, cfg: PACSettings, rng: np.random.Generator,
            progress: bool = True) -> dict[str, PACResult]:
    """All PAC tests for both conditions (same surrogate settings), with BH per family."""
    pairs = ordered_pairs(len(cfg.populations))
    pb = [BANDS[b] for b in cfg.phase_bands]
    ab = [BANDS[b] for b in cfg.amplitude_bands]
    min_shift = None if cfg.min_shift_s is None else max(1, int(round(cfg.min_shift_s * rec.fs)))
    results = {}
    for cond in CONDITIONS:
        utts, absent = condition_signals(rec, cond, cfg.populations)
        per, group = pac_tests(utts, rec.fs, pairs, pb, ab, cfg.n_surrogates, rng,
                               min_shift=min_shift, progress=progress,
                               trim=int(round(cfg.trim_s * rec.fs)))
        missing = np.array([absent[i] or absent[j] for i, j in pairs])
        testable = {"utt": ~missing & ~silent_pairs(rec, cond, cfg.populations, pairs)}
        testable["group"] = ~missing & ~silent_pairs(rec, cond, cfg.populations, pairs).all(0)
        q = {}
        for m in METRICS:
            for level, tests in (("utt", per), ("group", group)):
                p = getattr(tests, "p_" + m)
                valid = np.broadcast_to(testable[level][..., None, None], p.shape)
                adj = np.full(p.shape, np.nan)
                adj[valid] = benjamini_hochberg(p[valid], cfg.alpha)[1]
                q[f"{level}_{m}"] = adj
        results[cond] = PACResult(per, group, q, missing)
    return results


def csv_rows(rec: Recording, cfg: PACSettings, results: dict[str, PACResult]) -> list[dict]:
    """One row per condition × utterance (or 'GROUP') × pair × band pair."""
    pairs = ordered_pairs(len(cfg.populations))
    rows = []
    for cond, res in results.items():
        levels = [(rec.ids[u], res.per_utt, "utt", (u,)) for u in range(len(rec.ids))]
        levels.append(("GROUP", res.group, "group", ()))
        for uid, tests, level, lead in levels:
            for k, (i, j) in enumerate(pairs):
                for b, pband in enumerate(cfg.phase_bands):
                    for a, aband in enumerate(cfg.amplitude_bands):
                        idx = (*lead, k, b, a)
                        row = dict(condition=cond, utterance=uid,
                                   phase_population=cfg.populations[i],
                                   amplitude_population=cfg.populations[j],
                                   phase_band=pband, amplitude_band=aband,
                                   silent=_silent(rec, cond, lead, cfg.populations[i],
                                                  cfg.populations[j]))
                        for m in METRICS:
                            q = res.q[f"{level}_{m}"][idx]
                            na = bool(res.missing[k])
                            row[m] = "" if na else f"{getattr(tests, m)[idx]:.6g}"
                            row[f"p_{m}"] = "" if na else f"{getattr(tests, 'p_' + m)[idx]:.6g}"
                            untested = na or not np.isfinite(q)
                            row[f"q_{m}"] = "" if untested else f"{q:.6g}"
                            row[f"significant_{m}"] = "" if untested else str(bool(q <= cfg.alpha))
                        rows.append(row)
    return rows


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


def silent_share(rec: Recording, cond: str, pops: Sequence[str]) -> dict[str, float]:
    """Share of utterances in which each population did not spike at all."""
    flags = rec.silent[cond]
    return {p: float(np.mean([f.get(p, False) for f in flags])) if flags else 0.0 for p in pops}


def pair_labels(cfg: PACSettings) -> list[str]:
    """'phase -> amplitude, phase band/amplitude band' for every test of one utterance."""
    return [f"{cfg.populations[i]} -> {cfg.populations[j]}, {pb}/{ab}"
            for i, j in ordered_pairs(len(cfg.populations))
            for pb in cfg.phase_bands for ab in cfg.amplitude_bands]


def _fmt(stat: float, p: float, q: float, alpha: float, na: bool, silent: bool = False) -> str:
    if na or silent:
        return f"{'n/a' if na else 'silent':>27}"
    star = "*" if q <= alpha else " "
    return f"{stat:9.3g} p={p:6.4f} q={q:6.4f}{star}"


def _settings_lines(rec: Recording, cfg: PACSettings, dropped: Sequence[str]) -> list[str]:
    """What was tested and how, one statement per line (wrapped at 100 characters)."""
    n = min(len(next(iter(s.values()))) for s in rec.signals["speech"]) if rec.ids else 4
    shifts = ", ".join(
        f"{b} {default_min_shift(max(n, 4), rec.fs, BANDS[b][0]) / rec.fs:.3g} s"
        for b in cfg.phase_bands) if cfg.min_shift_s is None else f"{cfg.min_shift_s:g} s"
    bands = ", ".join(f"{b} {BANDS[b][0]:g}-{BANDS[b][1]:g}"
                      for b in [*cfg.phase_bands, *cfg.amplitude_bands])
    if dropped:
        bands += f"; dropped (above Nyquist {rec.fs / 2:g} Hz): {', '.join(dropped)}"
    lines = [
        f"Utterances: {len(rec.ids)} (and as many Gaussian-noise controls of the same lengths).",
        "Populations: " + ", ".join(f"{k}={p}" for k, p in enumerate(cfg.populations)),
        f"Population signal: mean spikes per step over the population's neurons, z-scored; "
        f"{rec.fs:g} Hz. Spikes aligned to the feature frames. After filtering, "
        f"{cfg.trim_s:g} s are dropped at both ends of each utterance (onset transient of the "
        "network, filter edges).",
        f"Bands (Hz): {bands}",
        "Filters: Butterworth band-pass, 4th-order prototype, zero-phase (forward-backward), "
        "checked for >= 20 dB rejection outside the band; Hilbert phase and amplitude.",
        "Metrics: Tort modulation index (18 phase bins) and Canolty mean vector length (raw "
        "amplitude).",
        f"Surrogates: circular shifts of the amplitude, {cfg.n_surrogates} per utterance drawn "
        "from all non-zero shifts. Per-utterance p uses those at least the minimum shift away "
        f"from 0 ({shifts}); the group test (mean over utterances) uses all of them.",
        f"p = (1 + #{{null >= observed}}) / (1 + N); Benjamini-Hochberg FDR at alpha = "
        f"{cfg.alpha:g} per condition, metric and level; q = BH-adjusted p; * = q <= alpha.",
        "Caution: per-utterance p-values of short series are liberal (independent noise, 3 s at "
        "500 Hz: about 0.08 below 0.05); the group test is exact. Compare speech with noise.",
    ]
    for cond in CONDITIONS:
        quiet = silent_share(rec, cond, cfg.populations)
        listed = ", ".join(f"{p} ({v:.0%})" for p, v in quiet.items() if v > 0) or "none"
        lines.append(f"Silent populations, {cond} (share of utterances without a spike): {listed}")
    return [w for line in lines for w in textwrap.wrap(line, 100, subsequent_indent="    ")]


def _group_lines(rec: Recording, cfg: PACSettings, results: dict[str, PACResult],
                 width: int) -> list[str]:
    """Group tests, speech and noise side by side, per metric."""
    lines = ["GROUP TESTS (mean over utterances): speech | Gaussian noise"]
    pairs = ordered_pairs(len(cfg.populations))
    for m in METRICS:
        lines.append(f"  {m.upper():<{width}}{'speech':^27} | {'noise':^27}")
        cells_index = np.ndindex(len(pairs), len(cfg.phase_bands), len(cfg.amplitude_bands))
        for (k, b, a), label in zip(cells_index, pair_labels(cfg), strict=True):
            cells = []
            for cond in CONDITIONS:
                res, g = results[cond], results[cond].group
                q = res.q[f"group_{m}"][k, b, a]
                cells.append(_fmt(getattr(g, m)[k, b, a], getattr(g, "p_" + m)[k, b, a], q,
                                  cfg.alpha, bool(res.missing[k]), not np.isfinite(q)))
            lines.append(f"  {label:<{width}}{cells[0]} | {cells[1]}")
    return lines


def _utterance_lines(cfg: PACSettings, results: dict[str, PACResult], width: int) -> list[str]:
    """Per-utterance tests: totals, then significant utterances per test (speech/noise)."""
    lines = ["PER-UTTERANCE TESTS: utterances with q <= alpha (speech / noise), per metric"]
    for cond in CONDITIONS:
        res = results[cond]
        for m in METRICS:
            q = res.q[f"utt_{m}"]
            raw = int(np.sum(getattr(res.per_utt, "p_" + m) < cfg.alpha))
            lines.append(f"  {cond:>6} {m.upper():>3}: {int(np.nansum(q <= cfg.alpha))} of "
                         f"{int(np.isfinite(q).sum())} tests significant after BH; "
                         f"raw p < alpha: {raw}")
    lines.append(f"  {'pair, bands':<{width}}{'MI':>12}{'MVL':>12}{'both':>12}")
    sig = {}
    for cond in CONDITIONS:
        q = results[cond].q
        mi, mvl = q["utt_mi"] <= cfg.alpha, q["utt_mvl"] <= cfg.alpha
        sig[cond] = [x.sum(axis=0).ravel() for x in (mi, mvl, mi & mvl)]  # each (tests,)
    for t, label in enumerate(pair_labels(cfg)):
        counts = [f"{sig['speech'][s][t]}/{sig['noise'][s][t]}" for s in range(3)]
        lines.append(f"  {label:<{width}}" + "".join(f"{c:>12}" for c in counts))
    return lines


def text_report(rec: Recording, cfg: PACSettings, results: dict[str, PACResult],
                dropped: Sequence[str], header: str) -> str:
    """The human-readable report: settings, group tests side by side, per-utterance counts."""
    width = max(len(label) for label in pair_labels(cfg)) + 2
    lines = [header, "", *_settings_lines(rec, cfg, dropped), "",
             *_group_lines(rec, cfg, results, width), "",
             *_utterance_lines(cfg, results, width)]
    return "\n".join(lines) + "\n"
