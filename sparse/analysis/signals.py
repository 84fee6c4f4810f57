"""Population signals, band-pass filters, decimation and the analytic signal.

Every function is pure and works on the last axis (time), with any leading batch axes.
Filters are designed for the actual sampling rate and band (SPARSE used 100 FIR taps for
every rate and band, which at 16 kHz made every band a low-pass of about 0-105 Hz), applied
zero-phase with a padding that adapts to short signals (SPARSE's fixed padding of 300
samples failed on signals of 300 samples or fewer).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from scipy import signal as sps

__all__ = [
    "AMPLITUDE_BANDS", "BANDS", "PHASE_BANDS", "PopulationSignal", "analytic", "bandpass",
    "check_bandpass", "decimate", "decimation_factors", "design_bandpass", "population_signal",
    "zero_phase_gain", "zscore"
]

#: Frequency bands of SPARSE's analysis (Hz), as in Bittar & Garner (2024).
BANDS: dict[str, tuple[float, float]] = {
    "delta": (0.5, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "low_gamma": (30.0, 80.0),
    "high_gamma": (80.0, 150.0),
}
#: Bands whose phase is tested, and bands whose amplitude is tested (SPARSE's PAC test).
PHASE_BANDS = ("delta", "theta", "alpha", "beta")
AMPLITUDE_BANDS = ("low_gamma", "high_gamma")


class PopulationSignal(NamedTuple):
    """A z-scored population signal and whether it was silent (constant)."""

    signal: np.ndarray
    silent: np.ndarray


def zscore(x: np.ndarray) -> PopulationSignal:
    """Z-score along the last axis; a constant series becomes zeros and is flagged.

    Parameters
    ----------
    x : np.ndarray, shape (..., T)

    Returns
    -------
    PopulationSignal
        ``signal`` (..., T) float64 with mean 0 and std 1 (ddof 0) where not silent, all zeros
        where the std is 0 (never NaN); ``silent`` (...,) bool.

    Examples
    --------
    >>> z = zscore(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
    >>> z.signal[1].tolist(), z.silent.tolist()
    ([0.0, 0.0, 0.0], [False, True])
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    std = np.sqrt((centred**2).mean(axis=-1, keepdims=True))
    scale = np.maximum(np.abs(mean), 1.0)
    silent = std <= 1e-12 * scale
    out = np.where(silent, 0.0, centred / np.where(silent, 1.0, std))
    return PopulationSignal(out, silent[..., 0])


def population_signal(spikes: np.ndarray) -> PopulationSignal:
    """Mean spike count over neurons per step, then z-scored (as SPARSE's analysis), NaN-free.

    Parameters
    ----------
    spikes : np.ndarray, shape (..., T, N)
        Binary spike trains of N neurons over T steps.

    Returns
    -------
    PopulationSignal
        ``signal`` (..., T) and ``silent`` (...,); a silent population gives zeros.

    Examples
    --------
    >>> population_signal(np.zeros((2, 50, 8))).signal.shape
    (2, 50)
    """
    spikes = np.asarray(spikes, dtype=np.float64)
    if spikes.shape[-1] == 0:
        raise ValueError("population has no neurons")
    return zscore(spikes.mean(axis=-1))


def design_bandpass(band: tuple[float, float], fs: float, order: int = 4) -> np.ndarray:
    """Butterworth band-pass for ``band`` at sampling rate ``fs``, as second-order sections.

    A band-pass of ``order`` has 2·order poles; applied forward and backward
    (:func:`bandpass`) its magnitude is squared, i.e. −6 dB at the band edges and about
    −48 dB one octave outside for order 4. Second-order sections keep the very narrow
    relative bands of low frequencies (0.5–4 Hz at 500 Hz) numerically stable.

    Parameters
    ----------
    band : (float, float)
        Lower and upper edge in Hz, 0 < low < high < fs / 2.
    fs : float
        Sampling rate in Hz.
    order : int
        Butterworth prototype order.

    Returns
    -------
    np.ndarray, shape (order, 6)
        Second-order sections for :func:`scipy.signal.sosfiltfilt`.

    Examples
    --------
    >>> design_bandpass((4.0, 8.0), fs=500.0).shape
    (4, 6)
    """
    low, high = float(band[0]), float(band[1])
    if not 0.0 < low < high < fs / 2.0:
        raise ValueError(f"band {band} Hz must satisfy 0 < low < high < fs/2 = {fs / 2} Hz")
    return sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")


def zero_phase_gain(sos: np.ndarray, freqs: np.ndarray, fs: float) -> np.ndarray:
    """Magnitude of the zero-phase (forward-backward) response at ``freqs`` (Hz)."""
    _, h = sps.sosfreqz(sos, worN=np.asarray(freqs, dtype=np.float64), fs=fs)
    return np.abs(h) ** 2


def check_bandpass(
    sos: np.ndarray, band: tuple[float, float], fs: float, min_rejection_db: float = 20.0
) -> None:
    """Raise if the filter does not pass its band centre or does not reject outside content.

    The pass check is at the geometric band centre (gain ≥ 0.5); the rejection checks are
    at half the lower edge and at twice the upper edge (or at Nyquist if that is lower).
    """
    low, high = band
    centre = math.sqrt(low * high)
    outside = [low / 2.0, min(2.0 * high, 0.999 * fs / 2.0)]
    gains = zero_phase_gain(sos, np.array([centre, *outside]), fs)
    if gains[0] < 0.5:
        raise ValueError(
            f"band-pass {band} Hz at {fs} Hz passes only {gains[0]:.2f} at {centre:.1f} Hz"
        )
    worst_db = 10.0 * math.log10(max(gains[1:].max(), 1e-300))
    if worst_db > -min_rejection_db:
        raise ValueError(
            f"band-pass {band} Hz at {fs} Hz rejects only {-worst_db:.1f} dB outside the band"
        )


@functools.lru_cache(maxsize=256)
def _checked_design(low: float, high: float, fs: float, order: int, check: bool) -> np.ndarray:
    """Cached :func:`design_bandpass` (+ :func:`check_bandpass`); the result is read-only."""
    sos = design_bandpass((low, high), fs, order)
    if check:
        check_bandpass(sos, (low, high), fs)
    sos.setflags(write=False)
    return sos


def bandpass(
    x: np.ndarray, band: tuple[float, float], fs: float, order: int = 4, check: bool = True
) -> np.ndarray:
    """Zero-phase band-pass along the last axis, usable on short signals.

    The signal is padded by odd reflection with up to three periods of the lower band edge,
    but never more than ``T − 1`` samples, so any T ≥ 2 works (no fixed padlen 300).

    Parameters
    ----------
    x : np.ndarray, shape (..., T)
    band : (float, float)
        Band edges in Hz.
    fs : float
        Sampling rate of ``x`` in Hz.
    order : int
        Butterworth prototype order (see :func:`design_bandpass`).
    check : bool
        Verify pass-band gain and out-of-band rejection (:func:`check_bandpass`).

    Returns
    -------
    np.ndarray, shape (..., T)

    Examples
    --------
    >>> bandpass(np.random.default_rng(0).standard_normal((3, 100)), (4, 8), 500.0).shape
    (3, 100)
    """
    sos = _checked_design(float(band[0]), float(band[1]), float(fs), int(order), bool(check))
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    if n < 2:
        raise ValueError("need at least 2 samples to filter")
    padlen = min(n - 1, int(math.ceil(3.0 * fs / band[0])))
    return sps.sosfiltfilt(sos.copy(), x, axis=-1, padtype="odd", padlen=padlen)


def decimation_factors(factor: int, max_stage: int = 13) -> list[int]:
    """Split an integer decimation ``factor`` into stages of at most ``max_stage`` each.

    Examples
    --------
    >>> decimation_factors(32)
    [8, 4]
    """
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"decimation factor must be a positive integer, got {factor}")
    stages, rest = [], int(factor)
    while rest > 1:
        divisors = [d for d in range(min(max_stage, rest), 1, -1) if rest % d == 0]
        if not divisors:
            raise ValueError(f"factor {factor} has a prime factor larger than {max_stage}")
        stages.append(divisors[0])
        rest //= divisors[0]
    return stages


def decimate(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Anti-aliased, zero-phase downsampling from ``fs_in`` to ``fs_out`` in stages ≤ 13.

    Parameters
    ----------
    x : np.ndarray, shape (..., T)
    fs_in, fs_out : float
        Rates in Hz; ``fs_in / fs_out`` must be an integer.

    Returns
    -------
    np.ndarray, shape (..., ceil(T · fs_out / fs_in))

    Examples
    --------
    >>> decimate(np.zeros((2, 16000)), 16000.0, 500.0).shape
    (2, 500)
    """
    ratio = fs_in / fs_out
    if abs(ratio - round(ratio)) > 1e-9:
        raise ValueError(f"{fs_in} Hz / {fs_out} Hz is not an integer ratio")
    y = np.asarray(x, dtype=np.float64)
    for q in decimation_factors(int(round(ratio))):
        y = sps.decimate(y, q, ftype="iir", axis=-1, zero_phase=True)
    return y


def analytic(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hilbert phase (rad, in (−π, π]) and amplitude envelope along the last axis.

    Parameters
    ----------
    x : np.ndarray, shape (..., T)
        Band-limited signal (see :func:`bandpass`).

    Returns
    -------
    (np.ndarray, np.ndarray)
        Phase and amplitude, each (..., T).

    Examples
    --------
    >>> phase, amp = analytic(np.cos(np.linspace(0, 20 * np.pi, 400, endpoint=False)))
    >>> bool(np.allclose(amp, 1.0))
    True
    """
    z = sps.hilbert(np.asarray(x, dtype=np.float64), axis=-1)
    return np.angle(z), np.abs(z)
