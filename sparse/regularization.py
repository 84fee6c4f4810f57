"""Firing rates of spike trains (Hz) and the firing-rate penalties of SPARSE and SpArch."""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_positive, check_rank3

__all__ = ["firing_rates", "firing_rate_penalty", "sparch_rate_penalty"]


def firing_rates(spikes: Tensor, lengths: Tensor | None = None, dt: float = 1.0) -> Tensor:
    """Mean firing rate of each neuron in Hz, counted over each utterance's true length.

    Parameters
    ----------
    spikes : Tensor
        ``(B, T, N)`` binary spikes, one step every ``dt`` ms.
    lengths : Tensor, optional
        ``(B,)`` relative lengths in ``(0, 1]`` (SpeechBrain's ``wav_lens``); steps
        beyond ``round(lengths * T)`` are padding and are ignored. All steps count if omitted.
    dt : float
        Step size in ms.

    Returns
    -------
    Tensor
        ``(N,)`` rates in Hz: per utterance ``count / duration``, averaged over the batch.
        (Upstream divides by the padded duration, underestimating short utterances.)

    Examples
    --------
    >>> s = torch.zeros(2, 10, 1); s[0, :5] = 1; s[1, :2] = 1
    >>> firing_rates(s, torch.tensor([1.0, 0.2]), dt=1.0).tolist()  # (500 + 1000) / 2 Hz
    [750.0]
    """
    check_rank3(spikes, "firing_rates")
    check_positive("dt", dt)
    batch, steps, _ = spikes.shape
    if lengths is None:
        valid = torch.full((batch,), steps, device=spikes.device, dtype=spikes.dtype)
    else:
        valid = torch.round(lengths.to(spikes.dtype) * steps).clamp(min=1)
    mask = torch.arange(steps, device=spikes.device)[None, :] < valid[:, None]
    counts = (spikes * mask[:, :, None].to(spikes.dtype)).sum(dim=1)  # (B, N)
    return (counts * 1000.0 / (valid[:, None] * dt)).mean(dim=0)


def firing_rate_penalty(rates: Tensor, fmin_hz: float = 0.5, fmax_hz: float = 250.0) -> Tensor:
    """``mean_i ReLU(fmin - r_i) + mean_i ReLU(r_i - fmax)`` for rates ``(N,)`` in Hz.

    Examples
    --------
    >>> firing_rate_penalty(torch.tensor([0.0, 10.0, 300.0, 100.0])).item()  # (0.5 + 50) / 4
    12.625
    """
    return torch.relu(fmin_hz - rates).mean() + torch.relu(rates - fmax_hz).mean()


def sparch_rate_penalty(rates_hz: Tensor, fmin_hz: float, fmax_hz: float, dt: float) -> Tensor:
    """SpArch's penalty ``sum_i ReLU(fmin - r_i) + sum_i ReLU(r_i - fmax)`` in spikes per step.

    SpArch sums over neurons and counts rates in spikes per step; with rates and bounds in Hz
    and a step of ``dt`` ms that is ``N * dt / 1000`` times :func:`firing_rate_penalty`
    (equal to SpArch's value up to float rounding).

    Parameters
    ----------
    rates_hz : Tensor
        ``(N,)`` rates in Hz.
    fmin_hz, fmax_hz : float
        Bounds in Hz (SpArch's 0.01 and 0.5 spikes per step are ``10 / dt`` and ``500 / dt``).
    dt : float
        Step size in ms.

    Examples
    --------
    >>> rates_hz = torch.tensor([0.0, 20.0, 100.0])  # 0, 0.2 and 1 spike per step at 10 ms
    >>> round(sparch_rate_penalty(rates_hz, 1.0, 50.0, dt=10.0).item(), 6)  # 0.01 + (1 - 0.5)
    0.51
    """
    check_positive("dt", dt)
    return firing_rate_penalty(rates_hz, fmin_hz, fmax_hz) * (rates_hz.numel() * dt / 1000.0)
