"""Firing rates of spike trains and the firing-rate penalty of SPARSE's training objective."""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_positive, check_rank3

__all__ = ["firing_rates", "firing_rate_penalty"]


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
