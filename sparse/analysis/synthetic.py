"""Synthetic signals with known phase-amplitude coupling (ground truth for the tests)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["CoupledSignal", "coupled_signal", "independent_noise", "wandering_phase"]


class CoupledSignal(NamedTuple):
    """A signal whose fast-band amplitude follows the slow-band phase."""

    signal: np.ndarray  # (..., T) slow + modulated fast + noise
    slow_phase: np.ndarray  # (..., T) true phase of the slow oscillation (rad)
    fast_envelope: np.ndarray  # (..., T) true amplitude of the fast oscillation


def wandering_phase(
    shape: tuple[int, ...], fs: float, freq: float, jitter: float, rng: np.random.Generator
) -> np.ndarray:
    """Phase (rad, unwrapped) of an oscillation whose frequency wanders around ``freq`` Hz.

    The instantaneous frequency is ``freq · (1 + jitter · x(t))`` with x a smooth (≈1 Hz
    low-passed) unit-variance random process, so the oscillation is not exactly periodic.
    """
    n = shape[-1]
    white = rng.standard_normal(shape)
    width = max(int(fs), 1)
    kernel = np.hanning(min(width, n) + 2)[1:-1]
    smooth = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), -1, white)
    smooth /= max(float(smooth.std()), 1e-12)
    inst = freq * (1.0 + jitter * smooth)
    start = rng.uniform(0, 2 * np.pi, shape[:-1] + (1,))
    return 2.0 * np.pi * np.cumsum(inst, axis=-1) / fs + start


def coupled_signal(
    shape: tuple[int, ...],
    fs: float,
    rng: np.random.Generator,
    phase_hz: float = 6.0,
    amp_hz: float = 50.0,
    preferred_phase: float = 0.0,
    coupling: float = 0.8,
    noise_std: float = 0.5,
) -> CoupledSignal:
    """Theta-like slow oscillation whose phase modulates a gamma-like fast oscillation.

    signal = cos φ + A · cos ψ + noise, with A = 1 + coupling · cos(φ − preferred_phase), so
    the fast amplitude peaks at slow phase ``preferred_phase`` (rad).

    Parameters
    ----------
    shape : tuple of int
        (..., T) output shape.
    fs : float
        Sampling rate in Hz.
    rng : np.random.Generator
    phase_hz, amp_hz : float
        Slow and fast frequencies in Hz.
    preferred_phase : float
        Slow phase (rad) of maximal fast amplitude.
    coupling : float
        Modulation depth in [0, 1]; 0 gives independent components.
    noise_std : float
        Standard deviation of the added white Gaussian noise.

    Examples
    --------
    >>> coupled_signal((2, 500), 500.0, np.random.default_rng(0)).signal.shape
    (2, 500)
    """
    slow = wandering_phase(shape, fs, phase_hz, 0.1, rng)
    fast = wandering_phase(shape, fs, amp_hz, 0.05, rng)
    envelope = 1.0 + coupling * np.cos(slow - preferred_phase)
    sig = np.cos(slow) + envelope * np.cos(fast) + noise_std * rng.standard_normal(shape)
    return CoupledSignal(sig, np.angle(np.exp(1j * slow)), envelope)


def independent_noise(
    shape: tuple[int, ...], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent white Gaussian noise signals of ``shape`` (no coupling by construction)."""
    return rng.standard_normal(shape), rng.standard_normal(shape)
