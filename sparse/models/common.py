"""Helpers shared by the SpArch spiking and non-spiking models: lengths, time reversal, masks.

Lengths follow SpeechBrain's convention: a ``(B,)`` tensor of *relative* lengths in
``(0, 1]`` (``wav_lens``), ``None`` meaning that every step is valid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["flatten_input", "input_size_of", "valid_steps", "step_mask", "reverse_valid",
           "bidirectional_scan", "masked_time_mean"]


def input_size_of(input_shape: Sequence[int]) -> int:
    """Features per step of an example shape ``(B, T, F)`` or ``(B, T, F, C)``: ``prod(shape[2:])``.

    Examples
    --------
    >>> input_size_of((4, 100, 40, 2))
    80
    """
    if len(input_shape) < 3:
        raise ValueError(
            f"input_shape must be (batch, time, features[, ...]), got {tuple(input_shape)}")
    return int(math.prod(int(d) for d in input_shape[2:]))


def flatten_input(x: Tensor) -> Tensor:
    """``(B, T, F, C) -> (B, T, F*C)``; ``(B, T, F)`` is returned unchanged."""
    if x.dim() == 4:
        return x.reshape(x.shape[0], x.shape[1], -1)
    if x.dim() != 3:
        raise ValueError(f"expected input of shape (batch, time, features), got {tuple(x.shape)}")
    return x


def valid_steps(lengths: Tensor | None, batch: int, steps: int, device: torch.device) -> Tensor:
    """Number of valid steps per example ``(B,)`` (int64) from relative lengths.

    Examples
    --------
    >>> valid_steps(torch.tensor([1.0, 0.5]), 2, 10, torch.device("cpu")).tolist()
    [10, 5]
    """
    if lengths is None:
        return torch.full((batch,), steps, dtype=torch.long, device=device)
    n = torch.round(lengths.to(device=device, dtype=torch.float64) * steps).long()
    return n.clamp(min=min(1, steps), max=steps)


def step_mask(n_valid: Tensor, steps: int) -> Tensor:
    """Boolean ``(B, T)`` mask, true on the first ``n_valid[b]`` steps of each example."""
    return torch.arange(steps, device=n_valid.device)[None, :] < n_valid[:, None]


def reverse_valid(x: Tensor, n_valid: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x`` ``(B, T, F)`` in time *within* its valid length.

    Padding stays at the end, so the backward direction of a bidirectional layer starts
    on the last real frame rather than on padding. Applying it twice is the identity.

    Examples
    --------
    >>> x = torch.arange(4.0).view(1, 4, 1).repeat(2, 1, 1)
    >>> reverse_valid(x, torch.tensor([4, 2]))[:, :, 0].tolist()
    [[3.0, 2.0, 1.0, 0.0], [1.0, 0.0, 2.0, 3.0]]
    """
    if n_valid is None:
        return x.flip(1)
    steps = x.shape[1]
    t = torch.arange(steps, device=x.device)[None, :]
    idx = torch.where(t < n_valid[:, None], n_valid[:, None] - 1 - t, t)
    return x.gather(1, idx[:, :, None].expand(-1, -1, x.shape[2]))


def bidirectional_scan(run, x: Tensor, n_valid: Tensor | None) -> Tensor:
    """SpArch's bidirectional scheme through *one* set of weights.

    The time-reversed input is concatenated on the batch axis, ``run`` processes the
    ``2B`` sequences at once (shared weights, normalisation statistics and neurons), and the
    second half is reversed back and concatenated on the feature axis.

    Parameters
    ----------
    run : callable
        ``(2B, T, I) -> (2B, T, H)``.
    x : Tensor
        ``(B, T, I)``.
    n_valid : Tensor or None
        ``(B,)`` valid steps (reversal within the valid part) or ``None`` (plain flip).

    Returns
    -------
    Tensor
        ``(B, T, 2H)``: forward features then backward features.
    """
    both = run(torch.cat([x, reverse_valid(x, n_valid)], dim=0))
    fwd, bwd = both.chunk(2, dim=0)
    return torch.cat([fwd, reverse_valid(bwd, n_valid)], dim=2)


def masked_time_mean(x: Tensor, n_valid: Tensor | None) -> Tensor:
    """Mean over the valid steps of ``x`` ``(B, T, F)`` -> ``(B, F)``.

    Examples
    --------
    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> masked_time_mean(x, torch.tensor([2])).tolist()
    [[2.0]]
    """
    if n_valid is None:
        return x.mean(dim=1)
    mask = step_mask(n_valid, x.shape[1]).to(x.dtype)[:, :, None]
    return (x * mask).sum(dim=1) / n_valid.to(x.dtype).clamp(min=1)[:, None]
