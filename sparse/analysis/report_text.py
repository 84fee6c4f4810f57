"""The human-readable PAC report: answer and summary first, then definitions, the contrast,
the group tests and the per-utterance counts (all numbers from :mod:`.report`)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np

from .batch import UTTERANCE_FPR, ordered_pairs
from .recording import CONDITIONS, NOISE_CONTROLS, Recording
from .report import METRIC_NAMES, METRICS, PACResult, PACRun, PACSettings
from .signals import BANDS
from .surrogates import MAX_SHIFT_FRACTION, min_shift

__all__ = [
    "WIDTH", "answer", "contrast_lines", "definitions", "group_lines", "pair_labels",
    "silence_lines", "smallest_contrast_p", "summary_table", "text_report", "used_vs_asked",
    "utterance_lines", "wrap"
]

WIDTH = 100


def wrap(lines: Sequence[str], indent: str = "    ") -> list[str]:
    """Wrap each line at :data:`WIDTH` characters, continuation lines indented."""
    return [w for line in lines for w in (textwrap.wrap(line, WIDTH, subsequent_indent=indent)
                                          or [""])]


def pair_labels(cfg: PACSettings) -> list[str]:
    """'phase -> amplitude, phase band/amplitude band' for every test of one utterance."""
    return [f"{cfg.populations[i]} -> {cfg.populations[j]}, {pb}/{ab}"
            for i, j in ordered_pairs(len(cfg.populations))
            for pb in cfg.phase_bands for ab in cfg.amplitude_bands]


def _count(x: np.ndarray) -> int:
    return int(np.count_nonzero(x))


def smallest_contrast_p(n_utts: int, n_permutations: int) -> float:
    """The smallest two-sided sign-flip p-value reachable with ``n_utts`` utterances."""
    if n_utts < 31 and 2**n_utts - 1 <= n_permutations:
        return 2.0 / 2**n_utts  # the observed pattern and its mirror image
    return 1.0 / (n_permutations + 1)


def answer(rec: Recording, cfg: PACSettings, run: PACRun) -> list[str]:
    """The plain answer to 'does speech drive coupling that noise does not?'."""
    labels = np.array(pair_labels(cfg))
    found, lines = {}, []
    for m, res in run.contrast.items():
        sig = np.nan_to_num(res.q, nan=1.0) <= cfg.alpha
        found[m] = (sig & (res.tests.difference > 0), sig & (res.tests.difference < 0))
    n_tests = {m: _count(np.isfinite(r.q)) for m, r in run.contrast.items()}
    up = {m: _count(f[0]) for m, f in found.items()}
    down = {m: _count(f[1]) for m, f in found.items()}
    counts = " and ".join(f"{up[m]} of {n_tests[m]} tests ({METRIC_NAMES[m]})" for m in up)
    if any(up.values()):
        m = max(up, key=up.get)
        res = run.contrast[m]
        dz = np.where(found[m][0], res.tests.dz, -np.inf).ravel()
        best = int(np.argmax(dz))
        k = np.unravel_index(best, res.q.shape)
        lines.append(
            f"YES. Speech drives phase-amplitude coupling that its matched noise does not in "
            f"{counts} (FDR {cfg.alpha:g}). Strongest ({METRIC_NAMES[m]}): {labels[best]}, "
            f"d_z = {res.tests.dz[k]:.2f} [{res.tests.dz_low[k]:.2f}, {res.tests.dz_high[k]:.2f}]"
            f", q = {res.q[k]:.3g}.")
    else:
        qmin = ", ".join(f"{METRIC_NAMES[m]} {np.nanmin(r.q):.3g}" if n_tests[m] else
                         f"{METRIC_NAMES[m]} untested" for m, r in run.contrast.items())
        lines.append(f"NO evidence at FDR {cfg.alpha:g}: no population pair x band pair couples "
                     f"more under speech than under its matched noise (smallest q: {qmin}).")
    if any(down.values()):
        lines.append("Noise couples more than speech in " + " and ".join(
            f"{down[m]} tests ({METRIC_NAMES[m]})" for m in down if down[m]) + ".")
    smallest = smallest_contrast_p(len(rec.ids), cfg.contrast_permutations)
    if smallest > cfg.alpha:
        lines.append(f"With {len(rec.ids)} utterances the smallest possible contrast p is "
                     f"{smallest:.3g} > alpha: nothing can be significant; analyse more.")
    return lines


def summary_table(cfg: PACSettings, run: PACRun) -> list[str]:
    """Counts significant before (p <= alpha) and after BH (q <= alpha), every family."""
    a = f"{cfg.alpha:g}"
    head = f"  {'family':<38}{'tests':>8}{'p<=' + a:>10}{'q<=' + a:>10}"
    lines = ["Contrast, speech vs matched noise (paired over utterances):",
             head + f"{'speech>noise':>14}{'noise>speech':>14}"]
    for m, res in run.contrast.items():
        tested = np.isfinite(res.q)
        q_sig = tested & (np.nan_to_num(res.q, nan=1.0) <= cfg.alpha)
        diff = res.tests.difference
        lines.append(f"  {'contrast ' + METRIC_NAMES[m]:<38}{_count(tested):>8}"
                     f"{_count(tested & (res.tests.p <= cfg.alpha)):>10}{_count(q_sig):>10}"
                     f"{_count(q_sig & (diff > 0)):>14}{_count(q_sig & (diff < 0)):>14}")
    lines += ["Within each condition, against circular-shift surrogates:", head]
    for cond, res in run.conditions.items():
        for m in METRICS:
            for level, tests in (("group", res.group), ("per-utterance", res.per_utt)):
                q = res.q[f"{'group' if level == 'group' else 'utt'}_{m}"]
                tested = np.isfinite(q)
                p = getattr(tests, "p_" + m)
                lines.append(f"  {f'{cond} {METRIC_NAMES[m]} {level}':<38}{_count(tested):>8}"
                             f"{_count(tested & (p <= cfg.alpha)):>10}"
                             f"{_count(tested & (q <= cfg.alpha)):>10}")
    return lines


def _span(values: np.ndarray, fmt: str) -> str:
    """'a-b' for the range of ``values``, or 'a' when they are all equal."""
    low, high = format(values.min(), fmt), format(values.max(), fmt)
    return low if low == high else f"{low}-{high}"


def used_vs_asked(rec: Recording, cfg: PACSettings, run: PACRun) -> list[str]:
    """Minimum shifts and surrogate counts where the values used differ from those asked."""
    lines = []
    per = run.conditions["speech"].per_utt
    asked = cfg.min_shift_samples(rec.fs)
    for b, band in enumerate(cfg.phase_bands):
        want = min_shift(1 << 30, rec.fs, BANDS[band][0], asked).asked
        used = per.min_shift[:, b]
        if used.min() < want:
            why = f"one period of {BANDS[band][0]:g} Hz" if asked is None else "min_shift_s"
            lines.append(
                f"minimum shift, {band}: {want / rec.fs:.3g} s asked ({why}); "
                f"{_span(used / rec.fs, '.3g')} s used, capped at "
                f"{MAX_SHIFT_FRACTION:g} of each (trimmed) utterance so that half of all shifts "
                f"remain ({_count(used < want)} of {used.size} utterances)")
    far = np.concatenate([r.per_utt.n_surrogates.ravel() for r in run.conditions.values()])
    if far.min() < cfg.n_surrogates:
        lines.append(f"n_surrogates: {cfg.n_surrogates} asked per utterance; per-utterance p "
                     f"used {_span(far, 'd')} (those at least the minimum shift from 0; "
                     "a short utterance has fewer distinct shifts); the group test uses all")
    return lines


def definitions(rec: Recording, cfg: PACSettings, run: PACRun, noise_control: str,
                dropped: Sequence[str]) -> list[str]:
    """What was tested and how, one statement per line."""
    bands = ", ".join(f"{b} {BANDS[b][0]:g}-{BANDS[b][1]:g}"
                      for b in [*cfg.phase_bands, *cfg.amplitude_bands])
    if dropped:
        bands += f"; dropped (above Nyquist {rec.fs / 2:g} Hz): {', '.join(dropped)}"
    contrast = next(iter(run.contrast.values())).tests
    perms = (f"all {contrast.n_permutations} sign patterns (exact)" if contrast.exhaustive else
             f"{contrast.n_permutations - 1} random sign patterns + the observed one")
    stat = ("z = (statistic - mean of its surrogates) / their s.d., per utterance (removes "
            "the bias of MI and MVL that depends on each input's spectrum)"
            if cfg.contrast_statistic == "z" else "the raw MI / MVL per utterance")
    fpr = "; ".join(f"{METRIC_NAMES[m]} " + ", ".join(
        f"{b} {UTTERANCE_FPR[m][b]:.3f}" for b in cfg.phase_bands if b in UTTERANCE_FPR[m])
        for m in METRICS)
    return [
        f"Inputs: {len(rec.ids)} utterances, each also as a matched noise input of the same "
        f"length: {NOISE_CONTROLS.get(noise_control, noise_control)}.",
        "Populations: " + ", ".join(f"{k}={p}" for k, p in enumerate(cfg.populations)),
        f"Population signal: mean spikes per step over the population's neurons, z-scored; "
        f"{rec.fs:g} Hz, aligned to the feature frames; {cfg.trim_s:g} s dropped at both ends "
        "after filtering (onset transient, filter edges).",
        f"Bands (Hz): {bands}. Butterworth band-pass (4th-order prototype, zero-phase, >= 20 dB "
        "rejection checked); Hilbert phase and amplitude.",
        "Metrics: Tort modulation index (MI, 18 phase bins) and Canolty mean vector length (MVL, "
        "raw amplitude). Surrogates: circular shifts of the amplitude series, "
        f"{cfg.n_surrogates} per utterance drawn from all non-zero shifts.",
        "Levels. per-utterance: one utterance's statistic against its own surrogates at least "
        "the minimum shift from 0 (one period of the phase band's lower edge, at most "
        f"{MAX_SHIFT_FRACTION:g} of the utterance). group: the mean over utterances against "
        "means of surrogates (all shifts), one test per population pair x band pair. contrast: "
        "speech against its matched noise, paired by utterance.",
        f"Contrast: statistic {stat}; d_u = speech - noise; two-sided sign-flip permutation "
        f"test of mean d_u ({perms}); delta = mean d_u, d_z = delta / s.d.(d_u), "
        f"{cfg.ci_level:.0%} percentile bootstrap CIs over utterances ({cfg.bootstrap_samples} "
        "resamples, not adjusted for multiplicity). Utterances where a population of the pair "
        "is silent in either input count as d_u = 0.",
        f"p = (1 + #{{null >= observed}}) / (1 + N). Benjamini-Hochberg FDR at alpha = "
        f"{cfg.alpha:g} over all population pairs x band pairs of one metric (x utterances at "
        "the per-utterance level), separately per condition and level, and for the contrast; "
        "q = BH-adjusted p; * = q <= alpha.",
        "How to read: a significant within-condition test says the network couples the bands "
        "for that input; the network couples bands for any input, so only the contrast says "
        "whether speech drives coupling that noise does not. Per-utterance p-values are "
        f"liberal (false-positive rate at alpha 0.05 on independent noise: {fpr}); the group "
        "test and the contrast hold alpha.",
    ]


def silence_lines(rec: Recording, cfg: PACSettings) -> list[str]:
    """Share of utterances in which each population did not spike, per condition."""
    lines = []
    for cond in CONDITIONS:
        flags = rec.silent[cond]
        share = {p: float(np.mean([f.get(p, False) for f in flags])) if flags else 0.0
                 for p in cfg.populations}
        listed = ", ".join(f"{p} ({v:.0%})" for p, v in share.items() if v > 0) or "none"
        lines.append(f"Silent populations, {cond} (share of utterances without a spike): {listed}")
    return lines


def contrast_lines(cfg: PACSettings, run: PACRun, width: int, top: int = 25) -> list[str]:
    """Significant contrast tests, speech > noise then noise > speech, strongest first (at most
    ``top`` of each); the smallest p when none is significant."""
    labels = pair_labels(cfg)
    stat = "z" if cfg.contrast_statistic == "z" else ""
    lines = [f"CONTRAST: speech - matched noise ({cfg.ci_level:.0%} CIs; every test in "
             "pac_contrast.csv)"]
    head = (f"  {'pair, bands':<{width}}{'n':>4}{'speech ' + stat:>10}{'noise ' + stat:>10}"
            f"{'delta [CI]':>24}{'d_z [CI]':>22}{'p':>9}{'q':>9}")
    for m, res in run.contrast.items():
        t = res.tests
        q = np.nan_to_num(res.q, nan=2.0).ravel()
        dz = np.nan_to_num(t.dz.ravel())
        groups = [(f"speech > noise, q <= {cfg.alpha:g}", np.flatnonzero((q <= cfg.alpha) & (
            t.difference.ravel() > 0))), (f"noise > speech, q <= {cfg.alpha:g}", np.flatnonzero(
                (q <= cfg.alpha) & (t.difference.ravel() < 0)))]
        if not any(g.size for _, g in groups):
            order = np.argsort(np.nan_to_num(t.p.ravel(), nan=2.0), kind="stable")[:top]
            groups = [(f"no test with q <= {cfg.alpha:g}; the smallest p", order)]
        for title, found in groups:
            order = found[np.argsort(-np.abs(dz[found]), kind="stable")]
            more = f" (strongest {top} shown)" if order.size > top else ""
            lines += [f"  {METRIC_NAMES[m]}, {title}: {order.size} tests{more}", head]
            for i in order[:top]:
                k = np.unravel_index(i, res.q.shape)
                lines.append(
                    f"  {labels[i]:<{width}}{int(t.n_utterances[k]):>4}{res.speech[k]:>10.3g}"
                    f"{res.noise[k]:>10.3g}"
                    f"{f'{t.difference[k]:.3g} [{t.ci_low[k]:.3g}, {t.ci_high[k]:.3g}]':>24}"
                    f"{f'{t.dz[k]:.2f} [{t.dz_low[k]:.2f}, {t.dz_high[k]:.2f}]':>22}"
                    f"{t.p[k]:>9.4f}{res.q[k]:>9.4f}" + ("*" if q[i] <= cfg.alpha else ""))
    return lines


def _fmt(stat: float, p: float, q: float, alpha: float, na: bool, silent: bool = False) -> str:
    if na or silent:
        return f"{'n/a' if na else 'silent':>27}"
    star = "*" if q <= alpha else " "
    return f"{stat:9.3g} p={p:6.4f} q={q:6.4f}{star}"


def group_lines(cfg: PACSettings, run: PACRun, width: int) -> list[str]:
    """Group tests, speech and noise side by side, per metric."""
    lines = ["GROUP TESTS (mean statistic over utterances vs means of surrogates): "
             "speech | noise"]
    for m in METRICS:
        lines.append(f"  {METRIC_NAMES[m]:<{width}}{'speech':^27} | {'noise':^27}")
        index = np.ndindex(len(ordered_pairs(len(cfg.populations))), len(cfg.phase_bands),
                           len(cfg.amplitude_bands))
        for (k, b, a), label in zip(index, pair_labels(cfg), strict=True):
            cells = []
            for cond in CONDITIONS:
                res: PACResult = run.conditions[cond]
                g, q = res.group, res.q[f"group_{m}"][k, b, a]
                cells.append(_fmt(getattr(g, m)[k, b, a], getattr(g, "p_" + m)[k, b, a], q,
                                  cfg.alpha, bool(res.missing[k]), not np.isfinite(q)))
            lines.append(f"  {label:<{width}}{cells[0]} | {cells[1]}")
    return lines


def utterance_lines(cfg: PACSettings, run: PACRun, width: int) -> list[str]:
    """Per-utterance tests: significant utterances per test (speech/noise)."""
    lines = ["PER-UTTERANCE TESTS: utterances with q <= alpha, speech/noise"]
    lines.append(f"  {'pair, bands':<{width}}{'MI':>12}{'MVL':>12}{'both':>12}")
    sig = {}
    for cond in CONDITIONS:
        q = run.conditions[cond].q
        mi, mvl = q["utt_mi"] <= cfg.alpha, q["utt_mvl"] <= cfg.alpha
        sig[cond] = [x.sum(axis=0).ravel() for x in (mi, mvl, mi & mvl)]  # each (tests,)
    for t, label in enumerate(pair_labels(cfg)):
        counts = [f"{sig['speech'][s][t]}/{sig['noise'][s][t]}" for s in range(3)]
        lines.append(f"  {label:<{width}}" + "".join(f"{c:>12}" for c in counts))
    return lines


def text_report(rec: Recording, cfg: PACSettings, run: PACRun, header: str, *,
                noise_control: str = "spectrum", dropped: Sequence[str] = (),
                notes: Sequence[str] = ()) -> str:
    """The report: question and answer, summary counts, values used where they differ from
    those asked (``notes`` adds the caller's), definitions, then every test."""
    width = max(len(label) for label in pair_labels(cfg)) + 2
    used = [*notes, *used_vs_asked(rec, cfg, run)]
    lines = [header, "",
             "QUESTION: does speech drive cross-frequency (phase-amplitude) coupling that its "
             "matched noise input does not?",
             *wrap(["ANSWER: " + " ".join(answer(rec, cfg, run))]), "",
             "SUMMARY: tests significant before (p) and after Benjamini-Hochberg (q)",
             *summary_table(cfg, run), ""]
    if used:
        lines += ["USED, WHERE IT DIFFERS FROM WHAT WAS ASKED", *wrap(["  " + u for u in used],
                                                                      "      "), ""]
    lines += ["DEFINITIONS", *wrap(["  " + d for d in definitions(rec, cfg, run, noise_control,
                                                                   dropped)], "      "),
              *wrap(["  " + s for s in silence_lines(rec, cfg)], "      "), "",
              *contrast_lines(cfg, run, width), "",
              *group_lines(cfg, run, width), "",
              *utterance_lines(cfg, run, width)]
    return "\n".join(lines) + "\n"
