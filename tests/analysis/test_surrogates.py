"""The FFT path equals the per-surrogate loop; shifts respect the minimum shift."""

import numpy as np
import pytest

from sparse.analysis.batch import far_masks, surrogate_shifts, used_min_shifts
from sparse.analysis.surrogates import (
    MAX_SHIFT_FRACTION,
    MinShift,
    admissible_shifts,
    default_min_shift,
    draw_shifts,
    min_shift,
    surrogate_pac_fft,
    surrogate_pac_loop,
)


@pytest.mark.parametrize("n", [64, 301, 1000])
def test_fft_surrogates_equal_plain_loop(n):
    rng = np.random.default_rng(n)
    for case in range(4):
        phase = rng.uniform(-np.pi, np.pi, n)
        if case == 1:
            phase = rng.uniform(-0.5, 1.0, n)  # most bins empty
        amp = rng.gamma(2.0, 1.0, n) * (1 + 0.5 * np.cos(phase - 1.0))
        shifts = np.concatenate([[0], draw_shifts(n, n // 2, 1, rng)])
        mi_fast, mvl_fast = surrogate_pac_fft(phase, amp, shifts)
        mi_loop, mvl_loop = surrogate_pac_loop(phase, amp, shifts)
        np.testing.assert_allclose(mi_fast, mi_loop, rtol=0, atol=1e-9)
        np.testing.assert_allclose(mvl_fast, mvl_loop, rtol=0, atol=1e-9)


def test_fft_surrogates_batched_over_leading_axes():
    rng = np.random.default_rng(3)
    phase, amp = rng.uniform(-np.pi, np.pi, (2, 3, 256)), rng.random((2, 3, 256))
    shifts = np.arange(0, 256, 5)
    mi, mvl = surrogate_pac_fft(phase, amp, shifts)
    assert mi.shape == mvl.shape == (2, 3, shifts.size)
    mi_loop, mvl_loop = surrogate_pac_loop(phase[1, 2], amp[1, 2], shifts)
    np.testing.assert_allclose(mi[1, 2], mi_loop, atol=1e-9)
    np.testing.assert_allclose(mvl[1, 2], mvl_loop, atol=1e-9)


def test_silent_amplitude_gives_zero_statistics_for_every_shift():
    phase = np.random.default_rng(0).uniform(-np.pi, np.pi, 300)
    mi, mvl = surrogate_pac_fft(phase, np.zeros(300), np.arange(300))
    assert np.all(mi == 0.0) and np.all(mvl == 0.0)


def test_shifts_respect_minimum_are_distinct_and_seeded():
    n, m = 1500, 125
    a = draw_shifts(n, 1000, m, np.random.default_rng(7))
    b = draw_shifts(n, 1000, m, np.random.default_rng(7))
    assert np.array_equal(a, b)
    assert np.unique(a).size == 1000
    assert a.min() >= m and a.max() <= n - m
    every = draw_shifts(100, 1000, 10, np.random.default_rng(0))
    assert np.array_equal(every, admissible_shifts(100, 10))
    with pytest.raises(ValueError, match=r"min_shift 51 must be in \[1, 50\] for length 100"):
        admissible_shifts(100, 51)


def test_minimum_shift_is_one_period_capped_at_a_quarter_and_says_so():
    assert min_shift(1500, 500.0, 4.0) == MinShift(asked=125, used=125)
    delta = min_shift(1250, 500.0, 0.5)  # 2 s asked in a 2.5 s series
    assert delta == MinShift(asked=1000, used=312) and delta.capped
    assert min_shift(1250, 500.0, 4.0, asked=50) == MinShift(asked=50, used=50)
    assert min_shift(1250, 500.0, 4.0, asked=900).used == 312  # an explicit value is capped too
    assert default_min_shift(1500, 500.0, 0.5) == 1500 * MAX_SHIFT_FRACTION
    assert used_min_shifts(1250, 500.0, [(0.5, 4.0), (13.0, 30.0)], 100).tolist() == [100, 100]


def test_far_masks_use_one_period_of_the_lower_band_edge():
    assert default_min_shift(1500, 500.0, 4.0) == 125
    shifts = surrogate_shifts(1500, 999, np.random.default_rng(1))
    assert shifts[0] == 0 and np.unique(shifts[1:]).size == 999 and shifts[1:].min() >= 1
    far = far_masks(shifts, 1500, 500.0, [(4.0, 8.0), (13.0, 30.0)])
    dist = np.minimum(shifts[1:], 1500 - shifts[1:])
    assert np.array_equal(far[0], dist >= 125) and np.array_equal(far[1], dist >= 39)
