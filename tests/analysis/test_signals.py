"""Population signals, filters, decimation and the analytic signal."""

import numpy as np
import pytest

from sparse.analysis.signals import (
    BANDS,
    analytic,
    bandpass,
    decimate,
    decimation_factors,
    design_bandpass,
    population_signal,
    zero_phase_gain,
    zscore,
)

FS = 500.0


def sine(freq: float, seconds: float, fs: float = FS, phase: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return np.sin(2 * np.pi * freq * t + phase)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def test_silent_population_gives_zeros_and_flag_not_nan():
    spikes = np.zeros((3, 200, 16))
    spikes[0, ::7, 2] = 1.0  # one active population
    out = population_signal(spikes)
    assert np.isfinite(out.signal).all()
    assert out.silent.tolist() == [False, True, True]
    assert np.all(out.signal[1:] == 0.0)
    assert out.signal[0].mean() == pytest.approx(0.0, abs=1e-12)
    assert out.signal[0].std() == pytest.approx(1.0)


def test_all_firing_population_is_silent_too():
    out = zscore(np.ones((2, 50)) * 0.37)
    assert out.silent.all() and np.all(out.signal == 0.0)


def test_silent_population_through_filter_and_hilbert_stays_finite():
    sig = population_signal(np.zeros((1, 300, 4))).signal
    phase, amp = analytic(bandpass(sig, BANDS["theta"], FS))
    assert np.isfinite(phase).all() and np.all(amp == 0.0)


@pytest.mark.parametrize("name", list(BANDS))
def test_band_passes_centre_and_rejects_out_of_band_sinusoid(name):
    low, high = BANDS[name]
    seconds = max(20.0 / low, 2.0)  # enough cycles of the slowest frequency
    centre = np.sqrt(low * high)
    below, above = low / 2.0, min(2.0 * high, 0.95 * FS / 2)
    mid = slice(int(0.25 * seconds * FS), int(0.75 * seconds * FS))  # away from the edges
    for freq, lo_gain, hi_gain in ((centre, 0.8, 1.05), (below, 0.0, 0.1), (above, 0.0, 0.1)):
        x = sine(freq, seconds)
        y = bandpass(x, (low, high), FS)
        gain = rms(y[mid]) / rms(x[mid])
        assert lo_gain <= gain <= hi_gain, (name, freq, gain)


def test_filter_response_is_band_specific_at_16khz_unlike_100_taps():
    # SPARSE's 100-tap FIR at 16 kHz was a ~0-105 Hz low-pass for every band.
    sos = design_bandpass(BANDS["theta"], 16000.0)
    gains = zero_phase_gain(sos, np.array([6.0, 1.0, 30.0, 100.0]), 16000.0)
    assert gains[0] > 0.9 and np.all(gains[1:] < 0.01)


def test_short_signals_are_filtered_without_padlen_error():
    x = np.random.default_rng(0).standard_normal((2, 40))
    for band in BANDS.values():
        y = bandpass(x, band, FS)
        assert y.shape == x.shape and np.isfinite(y).all()


def test_invalid_band_raises():
    with pytest.raises(ValueError, match=r"band \(80.0, 300.0\) Hz must satisfy 0 < low < high "
                                         r"< fs/2 = 250.0 Hz"):
        design_bandpass((80.0, 300.0), FS)
    with pytest.raises(ValueError, match=r"band \(8.0, 4.0\) Hz must satisfy"):
        design_bandpass((8.0, 4.0), FS)


def test_decimation_stages_at_most_13_and_antialiased():
    assert decimation_factors(32) == [8, 4]
    assert all(f <= 13 for f in decimation_factors(13 * 12))
    with pytest.raises(ValueError, match="factor 17 has a prime factor larger than 13"):
        decimation_factors(17)
    fs_in = 16000.0
    keep, alias = sine(20.0, 2.0, fs_in), sine(3010.0, 2.0, fs_in)  # 3010 Hz would alias to 10 Hz
    y_keep, y_alias = decimate(keep, fs_in, FS), decimate(alias, fs_in, FS)
    assert y_keep.shape == (1000,)
    mid = slice(200, 800)
    assert rms(y_keep[mid]) == pytest.approx(rms(keep), rel=0.02)
    assert rms(y_alias[mid]) < 0.01


def test_analytic_phase_and_amplitude_of_a_cosine():
    t = np.arange(1000) / FS
    phase, amp = analytic(np.cos(2 * np.pi * 10.0 * t))  # 20 whole cycles
    assert np.allclose(amp, 1.0)
    assert np.allclose(np.exp(1j * phase), np.exp(1j * 2 * np.pi * 10.0 * t))
