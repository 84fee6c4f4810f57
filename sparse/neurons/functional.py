r"""Reference dynamics of the spiking neurons: pure functions, plain time loops.

This module is the oracle. Every faster back-end is tested against it, so it
stays obvious: one function per update equation, one loop per scan.

SPARSE adaptive LIF (Bittar & Garner, 2024), per step ``t`` and neuron:

.. math::

    u_t &= \alpha (u_{t-1} - s_{t-1}) - (1 - \alpha) w_{t-1} + I_t + V s_{t-1} \\
    w_t &= \beta (w_{t-1} + b\, s_{t-1}) + (1 - \beta)\, a\, u_t \\
    s_t &= H(u_t - \theta)

with :math:`\alpha = e^{-dt/\tau_u}`, :math:`\beta = e^{-dt/\tau_w}`. The reset
subtracts the previous spike *before* the leak, and the input and recurrent
currents are not scaled by :math:`1 - \alpha`. With ``a = b = 0`` and
``w_0 = 0`` this is the plain LIF neuron :math:`u_t = \alpha (u_{t-1} - s_{t-1}) + I_t`.

SpArch adaptive LIF (Bittar & Garner, 2022) uses the *old* membrane in the
adaptation update and scales the drive by :math:`1 - \alpha`:

.. math::

    w_t &= \beta w_{t-1} + a\, u_{t-1} + b\, s_{t-1} \\
    u_t &= \alpha (u_{t-1} - s_{t-1}) + (1 - \alpha)(I_t + V s_{t-1} - w_t)

With ``a = b = 0`` it is SpArch's LIF (and RLIF with ``V``).

Recurrent matrices follow the ``nn.Linear`` convention: ``V[i, j]`` is the
weight from neuron ``j`` to neuron ``i``, so the recurrent current is
``s_{t-1} @ V.T``. All states start at zero unless given.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .state import AdLIFParameters, AdLIFState, ScanResult
from .surrogate import spike

__all__ = [
    "adlif_step",
    "sparch_step",
    "adlif_scan",
    "lif_scan",
    "leaky_integrator_step",
    "leaky_integrator_scan",
    "initial_state",
    "STEPS",
]


def _recurrent_current(s_prev: Tensor, recurrent: Tensor | None) -> Tensor | float:
    return 0.0 if recurrent is None else s_prev @ recurrent.T


def adlif_step(
    current: Tensor,
    state: AdLIFState,
    p: AdLIFParameters,
    recurrent: Tensor | None = None,
    surrogate: str = "boxcar",
) -> tuple[Tensor, AdLIFState]:
    """One step of the SPARSE adaptive LIF neuron (equations in the module docstring).

    Parameters
    ----------
    current : Tensor
        ``(B, N)`` input current ``I_t`` (already weighted and normalised).
    state : AdLIFState
        ``(u, w, s)`` at ``t - 1``, each ``(B, N)``.
    p : AdLIFParameters
        Per-neuron decays ``alpha``, ``beta`` and couplings ``a``, ``b``, each ``(N,)``.
    recurrent : Tensor, optional
        ``(N, N)`` recurrent matrix ``V`` (``nn.Linear`` convention), already masked.
    surrogate : str
        Name of the surrogate gradient (see :mod:`sparse.neurons.surrogate`).

    Returns
    -------
    spikes : Tensor
        ``(B, N)`` binary spikes ``s_t``.
    state : AdLIFState
        ``(u_t, w_t, s_t)``.
    """
    u_prev, w_prev, s_prev = state
    u = (
        p.alpha * (u_prev - s_prev)
        - (1.0 - p.alpha) * w_prev
        + current
        + _recurrent_current(s_prev, recurrent)
    )
    w = p.beta * (w_prev + p.b * s_prev) + (1.0 - p.beta) * p.a * u
    s = spike(u - p.threshold, surrogate)
    return s, AdLIFState(u, w, s)


def sparch_step(
    current: Tensor,
    state: AdLIFState,
    p: AdLIFParameters,
    recurrent: Tensor | None = None,
    surrogate: str = "boxcar",
) -> tuple[Tensor, AdLIFState]:
    """One step of the SpArch adaptive LIF neuron (LIF/RLIF/adLIF/RadLIF by ``a, b, V``).

    Same arguments and returns as :func:`adlif_step`.
    """
    u_prev, w_prev, s_prev = state
    w = p.beta * w_prev + p.a * u_prev + p.b * s_prev
    drive = current + _recurrent_current(s_prev, recurrent) - w
    u = p.alpha * (u_prev - s_prev) + (1.0 - p.alpha) * drive
    s = spike(u - p.threshold, surrogate)
    return s, AdLIFState(u, w, s)


Step = Callable[..., tuple[Tensor, AdLIFState]]

#: Neuron models by name; the ``variant`` argument of the scans picks one.
STEPS: dict[str, Step] = {"sparse": adlif_step, "sparch": sparch_step}


def initial_state(batch: int, n: int, like: Tensor) -> AdLIFState:
    """All-zero state ``(u, w, s)`` of shape ``(batch, n)`` with ``like``'s dtype and device."""
    z = like.new_zeros(batch, n)
    return AdLIFState(z, z, z)


def adlif_scan(
    x: Tensor,
    p: AdLIFParameters,
    recurrent: Tensor | None = None,
    state: AdLIFState | None = None,
    *,
    variant: str = "sparse",
    surrogate: str = "boxcar",
    return_traces: bool = False,
) -> ScanResult:
    """Run an adaptive LIF population over a whole sequence with a plain time loop.

    Parameters
    ----------
    x : Tensor
        ``(B, T, N)`` input currents.
    p : AdLIFParameters
        Per-neuron constants, each ``(N,)``.
    recurrent : Tensor, optional
        ``(N, N)`` recurrent matrix (``nn.Linear`` convention), already masked.
    state : AdLIFState, optional
        Initial state; zeros when omitted.
    variant : {"sparse", "sparch"}
        Which update equations to use (see the module docstring).
    surrogate : str
        Surrogate gradient name.
    return_traces : bool
        Also return the membrane and adaptation traces ``u``, ``w`` ``(B, T, N)``.

    Returns
    -------
    ScanResult
        ``spikes`` ``(B, T, N)``, final ``state`` and optional traces.

    Examples
    --------
    >>> n = 3
    >>> p = AdLIFParameters(torch.full((n,), 0.9), torch.full((n,), 0.95),
    ...                     torch.zeros(n), torch.zeros(n), 1.0)
    >>> out = adlif_scan(torch.ones(2, 5, n) * 0.6, p, return_traces=True)
    >>> out.spikes.shape, out.u.shape
    (torch.Size([2, 5, 3]), torch.Size([2, 5, 3]))
    >>> out.spikes[0, :, 0].tolist()
    [0.0, 1.0, 0.0, 1.0, 0.0]
    """
    if x.dim() != 3:
        raise ValueError(f"expected input of shape (batch, time, neurons), got {tuple(x.shape)}")
    try:
        step = STEPS[variant]
    except KeyError:
        choices = sorted(STEPS)
        raise ValueError(f"unknown neuron variant {variant!r}; choose one of {choices}") from None
    batch, steps, n = x.shape
    if state is None:
        state = initial_state(batch, n, x)
    spikes, us, ws = [], [], []
    for t in range(steps):
        s, state = step(x[:, t], state, p, recurrent, surrogate)
        spikes.append(s)
        if return_traces:
            us.append(state.u)
            ws.append(state.w)
    if steps == 0:
        empty = x.new_zeros(batch, 0, n)
        trace = empty if return_traces else None
        return ScanResult(empty, state, trace, trace)
    return ScanResult(
        torch.stack(spikes, dim=1),
        state,
        torch.stack(us, dim=1) if return_traces else None,
        torch.stack(ws, dim=1) if return_traces else None,
    )


def lif_scan(
    x: Tensor,
    alpha: Tensor,
    threshold: float = 1.0,
    recurrent: Tensor | None = None,
    *,
    surrogate: str = "boxcar",
    return_traces: bool = False,
) -> ScanResult:
    """SPARSE LIF population ``u_t = alpha (u_{t-1} - s_{t-1}) + I_t (+ V s_{t-1})``.

    It is :func:`adlif_scan` with ``a = b = 0``, so the two can never drift apart.
    ``x`` is ``(B, T, N)``, ``alpha`` is ``(N,)``.
    """
    zeros = torch.zeros_like(alpha)
    p = AdLIFParameters(alpha, torch.ones_like(alpha), zeros, zeros, threshold)
    return adlif_scan(x, p, recurrent, surrogate=surrogate, return_traces=return_traces)


def leaky_integrator_step(current: Tensor, u: Tensor, alpha: Tensor) -> Tensor:
    """Non-spiking LIF step ``u_t = alpha u_{t-1} + (1 - alpha) I_t``; all ``(B, N)``."""
    return alpha * u + (1.0 - alpha) * current


def leaky_integrator_scan(x: Tensor, alpha: Tensor, u0: Tensor | None = None) -> Tensor:
    """Membrane potentials ``(B, T, N)`` of non-spiking LIF neurons driven by ``x`` ``(B, T, N)``.

    Examples
    --------
    >>> leaky_integrator_scan(torch.ones(1, 3, 1), torch.tensor([0.5]))[0, :, 0].tolist()
    [0.5, 0.75, 0.875]
    """
    if x.dim() != 3:
        raise ValueError(f"expected input of shape (batch, time, neurons), got {tuple(x.shape)}")
    u = x.new_zeros(x.shape[0], x.shape[2]) if u0 is None else u0
    out = []
    for t in range(x.shape[1]):
        u = leaky_integrator_step(x[:, t], u, alpha)
        out.append(u)
    return torch.stack(out, dim=1) if out else x.new_zeros(x.shape)
