"""Tort MI and Canolty MVL against closed-form values."""

import numpy as np
import pytest

from sparse.analysis.pac import (
    N_BINS,
    binned_amplitude,
    mean_vector_length,
    modulation_index,
    phase_bin_indices,
    preferred_phase,
)


def grid_phase(m: int) -> np.ndarray:
    """18·m phases equally spaced in [−π, π), m in each bin, none on a bin edge."""
    n = N_BINS * m
    return -np.pi + (np.arange(n) + 0.5) * 2 * np.pi / n


def closed_form_mi(phi0: float, m: int, depth: float = 1.0) -> float:
    """MI of A = 1 + depth·cos(φ − φ0) on :func:`grid_phase`, written out by hand.

    The mean of cos(φ − φ0) over the m equally spaced points of bin k (centre c_k, spacing
    δ = Δ/m, Δ = 2π/18) is D·cos(c_k − φ0), D = sin(Δ/2) / (m sin(δ/2)); the 18 bin means
    sum to 18, so P_k = (1 + depth·D·cos(c_k − φ0)) / 18.
    """
    width = 2 * np.pi / N_BINS
    centres = -np.pi + (np.arange(N_BINS) + 0.5) * width
    d = np.sin(width / 2) / (m * np.sin(width / (2 * m)))
    p = (1 + depth * d * np.cos(centres - phi0)) / N_BINS
    return float((np.log(N_BINS) + np.sum(p * np.log(p))) / np.log(N_BINS))


def test_bin_edges():
    edges = np.linspace(-np.pi, np.pi, N_BINS + 1)
    assert phase_bin_indices(edges[:-1]).tolist() == list(range(N_BINS))
    assert phase_bin_indices(np.array([np.pi])).item() == N_BINS - 1
    assert phase_bin_indices(edges[1:-1] - 1e-12).tolist() == list(range(N_BINS - 1))


def test_constant_amplitude_gives_zero_mi_and_zero_mvl():
    phi = grid_phase(20)
    amp = np.full_like(phi, 2.5)
    assert modulation_index(phi, amp) == pytest.approx(0.0, abs=1e-14)
    assert mean_vector_length(phi, amp) == pytest.approx(0.0, abs=1e-14)


@pytest.mark.parametrize("phi0", [0.0, 1.0, -2.5, np.pi / 2])
@pytest.mark.parametrize("depth", [1.0, 0.4])
def test_cosine_modulated_amplitude_matches_closed_form(phi0, depth):
    m = 25
    phi = grid_phase(m)
    amp = 1 + depth * np.cos(phi - phi0)
    # MVL = |mean(e^{iφ}) + depth·mean(cos(φ − φ0) e^{iφ})| = depth / 2 exactly on the grid
    assert mean_vector_length(phi, amp) == pytest.approx(depth / 2, abs=1e-13)
    assert np.angle(np.exp(1j * (preferred_phase(phi, amp) - phi0))) == pytest.approx(0, abs=1e-12)
    assert modulation_index(phi, amp) == pytest.approx(closed_form_mi(phi0, m, depth), abs=1e-13)


def test_amplitude_in_a_single_bin_gives_mi_one():
    phi = grid_phase(10)
    amp = (phase_bin_indices(phi) == 4).astype(float)
    assert modulation_index(phi, amp) == pytest.approx(1.0, abs=1e-12)


def test_empty_phase_bins_and_zero_amplitude_give_no_nan():
    phi = np.zeros(100)  # every sample in bin 9, the 17 others empty
    amp = np.random.default_rng(0).random(100)
    mean_amp = binned_amplitude(phi, amp)
    assert np.isfinite(mean_amp).all() and np.count_nonzero(mean_amp) == 1
    assert np.isfinite(modulation_index(phi, amp))
    assert modulation_index(grid_phase(5), np.zeros(90)) == 0.0
    assert mean_vector_length(grid_phase(5), np.zeros(90)) == 0.0


def test_metrics_are_vectorised_over_leading_axes():
    rng = np.random.default_rng(1)
    phi, amp = rng.uniform(-np.pi, np.pi, (3, 4, 200)), rng.random((3, 4, 200))
    mi, mvl = modulation_index(phi, amp), mean_vector_length(phi, amp)
    assert mi.shape == mvl.shape == (3, 4)
    assert mi[2, 1] == pytest.approx(modulation_index(phi[2, 1], amp[2, 1]))
    assert mvl[0, 3] == pytest.approx(mean_vector_length(phi[0, 3], amp[0, 3]))
