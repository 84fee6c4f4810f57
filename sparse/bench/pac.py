"""PAC significance benchmark: ``python -m sparse.bench pac [--utterances 64 ...]``.

SPARSE's batch test (Bittar & Garner, 2024): 64 utterances × 16 population pairs (waveform,
nerve and three cortex layers: 15 pairs i ≤ j, plus all spiking populations together) × 4 phase
bands × 2 amplitude bands × 1000 circular-shift surrogates, Tort MI and Canolty MVL, 3 s at
500 Hz, for speech-like inputs and for their paired noise inputs, then the speech-vs-noise contrast
(sign-flip test with 9999 patterns, 2000 bootstrap resamples, BH). The timed part starts
from the population signals and the 16 kHz waveforms (decimated inside) and ends with every
p-value (per utterance, group and contrast). Then a few tests are recomputed with a plain
per-surrogate loop (``np.roll`` per shift, as upstream) to check that the FFT path gives the
same statistics and p-values, and to estimate the loop's total time.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np

from ..analysis.batch import band_analytic, far_masks, ordered_pairs, pac_tests, surrogate_shifts
from ..analysis.contrast import paired_contrast
from ..analysis.signals import AMPLITUDE_BANDS, BANDS, PHASE_BANDS, decimate, zscore
from ..analysis.stats import benjamini_hochberg, permutation_pvalue
from ..analysis.surrogates import surrogate_pac_loop
from ..analysis.synthetic import coupled_signal

__all__ = ["WAVE_FS", "loop_check", "main", "make_inputs", "population_signals"]

WAVE_FS = 16000.0


def make_inputs(
    n_utts: int, n_spiking: int, seconds: float, fs: float, rng: np.random.Generator,
    coupling: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic 16 kHz waveforms (U, seconds·16000) and spiking-population signals
    (U, n_spiking + 1, seconds·fs), the last being "all populations"; half the utterances
    carry theta → low-gamma oscillations with the given ``coupling`` (0 for the noise
    inputs: same spectrum, no coupling) so that every outcome occurs."""
    n = int(round(seconds * fs))
    waves = rng.standard_normal((n_utts, int(round(seconds * WAVE_FS))))
    pops = rng.standard_normal((n_utts, n_spiking, n))
    coupled = coupled_signal((n_utts // 2, n_spiking, n), fs, rng, coupling=coupling).signal
    pops[: n_utts // 2] += coupled
    allpop = pops.mean(axis=1, keepdims=True)
    return waves, np.concatenate([pops, allpop], axis=1)


def population_signals(waves: np.ndarray, pops: np.ndarray, fs: float) -> list[np.ndarray]:
    """Per utterance (P, T): the decimated waveform first, then the spiking populations."""
    wave = decimate(waves, WAVE_FS, fs)[:, : pops.shape[-1]]
    signals = zscore(np.concatenate([wave[:, None], pops], axis=1)).signal
    return list(signals)


def loop_check(
    signals: list[np.ndarray], fs: float, pairs: list[tuple[int, int]], shifts: list[np.ndarray],
    per_utt, tests: np.ndarray,
) -> tuple[float, float, float]:
    """Recompute ``tests`` (rows u, pair, phase band, amplitude band) by the plain loop.

    Returns the largest |difference| of the statistics, of the p-values, and the loop's
    seconds per test.
    """
    pb = [BANDS[b] for b in PHASE_BANDS]
    ab = [BANDS[b] for b in AMPLITUDE_BANDS]
    stat_diff = p_diff = 0.0
    start = time.perf_counter()
    for u, k, b, a in tests:
        i, j = pairs[k]
        phase, _ = band_analytic(signals[u][[i]], fs, [pb[b]])
        _, amp = band_analytic(signals[u][[j]], fs, [ab[a]])
        mi, mvl = surrogate_pac_loop(phase[0, 0], amp[0, 0], shifts[u])
        far = far_masks(shifts[u], signals[u].shape[-1], fs, [pb[b]])[0]
        for stat, obs, p in ((mi, per_utt.mi, per_utt.p_mi), (mvl, per_utt.mvl, per_utt.p_mvl)):
            stat_diff = max(stat_diff, abs(stat[0] - obs[u, k, b, a]))
            p_diff = max(p_diff, abs(permutation_pvalue(stat[1:], stat[0], far) - p[u, k, b, a]))
    return stat_diff, p_diff, (time.perf_counter() - start) / len(tests)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sparse.bench pac", description=__doc__)
    parser.add_argument("--utterances", type=int, default=64)
    parser.add_argument("--populations", type=int, default=5,
                        help="waveform + spiking populations (pairs: i ≤ j, plus 'all')")
    parser.add_argument("--surrogates", type=int, default=1000)
    parser.add_argument("--permutations", type=int, default=9999, help="contrast sign flips")
    parser.add_argument("--bootstrap", type=int, default=2000, help="contrast resamples")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--fs", type=float, default=500.0, help="population signal rate (Hz)")
    parser.add_argument("--check", type=int, default=4, help="tests recomputed by the plain loop")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print its report and return the key numbers."""
    args = parse(argv)
    rng = np.random.default_rng(args.seed)
    inputs = {"speech": make_inputs(args.utterances, args.populations - 1, args.seconds, args.fs,
                                    rng),
              "noise": make_inputs(args.utterances, args.populations - 1, args.seconds, args.fs,
                                   rng, coupling=0.0)}
    pairs = ordered_pairs(args.populations) + [(args.populations, args.populations)]
    pb = [BANDS[b] for b in PHASE_BANDS]
    ab = [BANDS[b] for b in AMPLITUDE_BANDS]
    n_tests = args.utterances * len(pairs) * len(pb) * len(ab)
    print(f"PAC benchmark: {args.utterances} utterances × {len(pairs)} pairs × "
          f"{len(pb)} phase × {len(ab)} amplitude bands = {n_tests} tests per input (speech, "
          f"noise), {args.surrogates} surrogates, MI + MVL, {args.seconds:g} s at "
          f"{args.fs:g} Hz, then the contrast ({args.permutations} sign flips, "
          f"{args.bootstrap} bootstrap resamples), {args.threads or os.cpu_count()} threads")
    wall, cpu = time.perf_counter(), time.process_time()
    shift_rng = np.random.default_rng(args.seed + 1)
    signals, per = {}, {}
    for cond, (waves, pops) in inputs.items():
        signals[cond] = population_signals(waves, pops, args.fs)
        per[cond], _ = pac_tests(signals[cond], args.fs, pairs, pb, ab, args.surrogates,
                                 shift_rng, n_threads=args.threads,
                                 progress=not args.no_progress and args.utterances >= 8)
    pac_wall, pac_cpu = time.perf_counter() - wall, time.process_time() - cpu
    found = {}
    for m in ("mi", "mvl"):
        c = paired_contrast(getattr(per["speech"], "z_" + m), getattr(per["noise"], "z_" + m),
                            None, rng, args.permutations, args.bootstrap)
        found[m] = int(benjamini_hochberg(c.p, 0.05)[0].sum())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    per_utt = per["speech"]
    print(f"fast path: {wall:.2f} s wall ({cpu:.2f} s CPU) for everything; PAC tests of both "
          f"inputs {pac_wall:.2f} s wall ({pac_cpu:.2f} s CPU), {2 * n_tests / pac_wall:.0f} "
          f"tests/s; contrast {wall - pac_wall:.2f} s wall ({cpu - pac_cpu:.2f} s CPU)")
    print(f"speech per-utterance p < 0.05: MI {np.mean(per_utt.p_mi < 0.05):.3f}, MVL "
          f"{np.mean(per_utt.p_mvl < 0.05):.3f}; contrast q <= 0.05: MI {found['mi']}, MVL "
          f"{found['mvl']} of {n_tests // args.utterances} tests")
    out = {"seconds": wall, "cpu_seconds": cpu, "tests": float(n_tests),
           "contrast_mi": float(found["mi"]), "contrast_mvl": float(found["mvl"])}
    if args.check > 0:
        shift_rng = np.random.default_rng(args.seed + 1)  # pac_tests drew these first (speech)
        shifts = [surrogate_shifts(s.shape[-1], args.surrogates, shift_rng)
                  for s in signals["speech"]]
        shape = per_utt.mi.shape
        tests = np.stack([rng.integers(0, d, args.check) for d in shape], axis=1)
        stat_diff, p_diff, per_test = loop_check(signals["speech"], args.fs, pairs, shifts,
                                                 per_utt, tests)
        estimate = 2 * per_test * n_tests
        print(f"plain loop on {args.check} tests: max |Δstat| {stat_diff:.2e}, "
              f"max |Δp| {p_diff:.2e}; {per_test:.3f} s per test → ≈ {estimate:.0f} s for all "
              f"({estimate / wall:.0f}× slower)")
        if stat_diff > 1e-9 or p_diff > 0:
            raise SystemExit("FFT path disagrees with the plain loop")
        out.update(loop_seconds_estimate=estimate, max_stat_diff=stat_diff)
    return out


if __name__ == "__main__":
    main()
