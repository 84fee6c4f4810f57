"""The paired speech-vs-noise contrast: exact small cases, α on null families, power."""

import numpy as np
import pytest

from sparse.analysis import BANDS, pac_tests
from sparse.analysis.contrast import bootstrap_effects, paired_contrast, sign_flips
from sparse.analysis.stats import benjamini_hochberg
from sparse.analysis.synthetic import coupled_signal

ALPHA = 0.05
FS = 500.0


def test_sign_flips_enumerate_every_pattern_but_the_identity_when_few():
    flips, exact = sign_flips(4, 100, np.random.default_rng(0))
    assert exact and flips.shape == (15, 4)
    assert len({tuple(f) for f in flips}) == 15 and not (flips == 1).all(axis=1).any()
    drawn, exact = sign_flips(10, 100, np.random.default_rng(0))
    again, _ = sign_flips(10, 100, np.random.default_rng(0))
    assert not exact and drawn.shape == (100, 10) and np.array_equal(drawn, again)
    assert set(np.unique(drawn)) == {-1.0, 1.0}


def test_exact_pvalue_and_effect_sizes_by_hand():
    speech = np.array([[1.0], [2.0], [3.0]])
    c = paired_contrast(speech, np.zeros_like(speech), None, np.random.default_rng(0),
                        n_permutations=100, n_boot=50)
    # sums over the 8 sign patterns of (1, 2, 3): ±6 reach |6|, so p = 2 / 8
    assert c.exhaustive and c.n_permutations == 8
    assert c.p.item() == pytest.approx(0.25)
    assert c.difference.item() == pytest.approx(2.0)
    assert c.dz.item() == pytest.approx(2.0 / 1.0)  # s.d. (ddof 1) of 1, 2, 3 is 1
    assert 1.0 <= c.ci_low.item() <= 2.0 <= c.ci_high.item() <= 3.0
    assert c.n_utterances.item() == 3


def test_invalid_pairs_count_as_zero_and_never_as_evidence():
    rng = np.random.default_rng(1)
    speech, noise = rng.normal(size=(12, 2)), rng.normal(size=(12, 2))
    valid = np.ones((12, 2), bool)
    valid[:, 1] = False
    speech[:, 1] += 100.0  # would be overwhelming if it counted
    c = paired_contrast(speech, noise, valid, rng, n_permutations=999, n_boot=100)
    assert np.isnan(c.p[1]) and c.n_utterances.tolist() == [12, 0]
    assert np.isnan(c.difference[1]) and np.isnan(c.ci_low[1])
    with pytest.raises(ValueError, match="paired"):
        paired_contrast(speech, noise[:5], None, rng)


def test_bootstrap_interval_covers_the_mean_of_a_wide_sample():
    rng = np.random.default_rng(2)
    diff = rng.normal(0.5, 1.0, (200, 1))
    low, high, dz_low, dz_high = bootstrap_effects(diff, np.ones_like(diff, bool), 1000, 0.95,
                                                   rng)
    se = 1.0 / np.sqrt(200)
    assert low[0] < diff.mean() < high[0]
    assert high[0] - low[0] == pytest.approx(2 * 1.96 * se, rel=0.2)
    assert dz_low[0] < 0.5 < dz_high[0]


def null_family(rng: np.random.Generator, n_utts: int = 24, n_tests: int = 48) -> np.ndarray:
    """Per-utterance statistics of one family under the null, shape (2, U, M).

    Speech and noise are i.i.d. given the utterance: skewed (gamma), with utterance-specific
    scales and offsets shared by both inputs, and correlated across the family's tests.
    """
    scale = rng.uniform(0.3, 3.0, (n_utts, 1))
    offset = rng.normal(0.0, 2.0, (n_utts, n_tests))
    shared = rng.gamma(2.0, 1.0, (2, n_utts, 1))  # correlates the tests of one input
    own = rng.gamma(2.0, 1.0, (2, n_utts, n_tests))
    return offset + scale * (shared + own)


def test_contrast_holds_alpha_over_400_null_families(capsys):
    rng = np.random.default_rng(2025)
    any_rejected, raw = [], []
    for _ in range(400):
        speech, noise = null_family(rng)
        c = paired_contrast(speech, noise, None, rng, n_permutations=999, n_boot=10)
        any_rejected.append(benjamini_hochberg(c.p, ALPHA)[0].any())
        raw.append(c.p <= ALPHA)
    family_fpr, test_fpr = np.mean(any_rejected), np.mean(raw)
    with capsys.disabled():
        print(f"\ncontrast under the null, 400 families of 48 tests (24 utterances): "
              f"family-wise false-positive rate after BH {family_fpr:.4f}, "
              f"per-test raw p <= {ALPHA}: {test_fpr:.4f}")
    assert family_fpr <= ALPHA
    assert test_fpr <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / 400)  # tests correlate


def test_contrast_of_pac_on_independent_noise_series_holds_alpha(capsys):
    """End to end on real series: z of MI/MVL from pac_tests for both inputs, then contrast."""
    rng = np.random.default_rng(7)
    phase_bands = [BANDS[b] for b in ("delta", "theta", "alpha", "beta")]
    amp_bands = [BANDS[b] for b in ("low_gamma", "high_gamma")]
    pvals = []
    for _ in range(60):
        z = []
        for _cond in range(2):
            utts = [rng.standard_normal((2, 800)) for _ in range(8)]
            per, _ = pac_tests(utts, FS, [(0, 1)], phase_bands, amp_bands, 99, rng, n_threads=1)
            z.append(np.stack([per.z_mi, per.z_mvl], axis=1))  # (U, 2, 1, 4, 2)
        pvals.append(paired_contrast(z[0], z[1], None, rng, n_permutations=999, n_boot=10).p)
    rate = np.mean(np.stack(pvals) <= ALPHA)
    with capsys.disabled():
        print(f"\ncontrast of surrogate-z PAC, independent noise (60 x 16 tests): raw p <= "
              f"{ALPHA}: {rate:.4f}")
    assert rate <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / 60)  # 16 correlated tests each


def planted_family(rng: np.random.Generator, n_utts: int, coupling: float):
    """Theta → low-gamma coupling in speech only; noise with the same spectrum, no coupling."""
    def utts(c: float) -> list[np.ndarray]:
        return [coupled_signal((1, 1000), FS, rng, coupling=c, noise_std=1.0).signal
                for _ in range(n_utts)]

    return utts(coupling), utts(0.0)


def test_contrast_finds_coupling_planted_in_speech_only(capsys):
    rng = np.random.default_rng(3)
    phase = ["delta", "theta", "alpha", "beta"]
    amp = ["low_gamma", "high_gamma"]
    planted = (phase.index("theta"), amp.index("low_gamma"))
    hits, wrong, others = [], [], []
    for _ in range(30):
        speech, noise = planted_family(rng, 10, 0.35)
        z = []
        for utts in (speech, noise):
            per, _ = pac_tests(utts, FS, [(0, 0)], [BANDS[b] for b in phase],
                               [BANDS[b] for b in amp], 199, rng, n_threads=1)
            z.append(per.z_mi[:, 0])  # (U, 4, 2)
        c = paired_contrast(z[0], z[1], None, rng, n_permutations=999, n_boot=10)
        reject = benjamini_hochberg(c.p, ALPHA)[0]
        hits.append(reject[planted] and c.difference[planted] > 0)
        wrong.append(reject[planted] and c.difference[planted] < 0)
        others.append(np.delete(reject.ravel(), np.ravel_multi_index(planted, reject.shape)))
    power = np.mean(hits)
    with capsys.disabled():
        print(f"\ncontrast power, theta/low-gamma coupling 0.35 in speech only, 10 utterances "
              f"of 2 s, MI z, BH over 8 band pairs: {power:.2f} (30 families); other band "
              f"pairs rejected: {np.mean(others):.3f}")
    assert power >= 0.8
    assert not any(wrong)
    assert np.mean(others) <= 0.1  # delta/alpha phase leak a little of the planted theta
