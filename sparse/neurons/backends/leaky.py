"""Non-spiking leaky integrator (readout) with a hand-written backward, for any device.

``u_t = alpha u_{t-1} + (1 - alpha) I_t``; adjoint ``l_t = g_t + alpha l_{t+1}``,
``dI_t = (1 - alpha) l_t``, ``dalpha = sum l_t (u_{t-1} - I_t)``, ``du_0 = alpha l_1``.
The forward pass repeats the reference's operations in order (bit-identical).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .common import initial, loop_threads, step_views

__all__ = ["leaky_integrator_scan_cpu"]


class _LeakyIntegrator(torch.autograd.Function):
    """``u_t = alpha u_{t-1} + (1 - alpha) I_t`` with the adjoint ``l_t = g_t + alpha l_{t+1}``."""

    @staticmethod
    def forward(ctx, x, alpha, u0):  # noqa: D102
        u0 = initial(x, u0)
        U = _leaky_forward(x, alpha, u0)
        ctx.save_for_backward(x, alpha, U, u0)
        return U

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        x, alpha, U, u0 = ctx.saved_tensors
        L = torch.empty_like(U)  # L[:, t] = dL/du_t
        ls, gs = L.unbind(1), g.unbind(1)
        steps = len(ls)
        ls[-1].copy_(gs[-1])
        with loop_threads(g.device):
            for i in range(steps - 2, -1, -1):
                torch.mul(alpha, ls[i + 1], out=ls[i])
                ls[i].add_(gs[i])
        gx = gu0 = ga = None
        if ctx.needs_input_grad[0]:
            gx = (1.0 - alpha) * L
        if ctx.needs_input_grad[1]:
            u_prev = torch.cat([u0[:, None], U[:, :-1]], dim=1)
            ga = (L * (u_prev - x)).sum(dim=(0, 1)).expand(x.shape[2]).sum_to_size(alpha.shape)
        if ctx.needs_input_grad[2]:
            gu0 = alpha * ls[0]
        return gx, ga, gu0


def _leaky_forward(x: Tensor, alpha: Tensor, u0: Tensor) -> Tensor:
    """Potentials ``(B, T, N)`` from ``u0`` ``(B, N)`` (the reference's operation order)."""
    U = torch.empty_like(x)
    us = step_views(u0, U)
    oma = 1.0 - alpha
    t1 = torch.empty_like(u0)
    with loop_threads(x.device):
        for t, xt in enumerate(x.unbind(1)):
            torch.mul(oma, xt, out=t1)
            torch.mul(alpha, us[t], out=us[t + 1])
            us[t + 1].add_(t1)
    return U


def leaky_integrator_scan_cpu(x: Tensor, alpha: Tensor, u0: Tensor | None = None) -> Tensor:
    """Potentials ``(B, T, N)`` of non-spiking LIF neurons; same contract as the reference.

    Examples
    --------
    >>> leaky_integrator_scan_cpu(torch.ones(1, 3, 1), torch.tensor([0.5]))[0, :, 0].tolist()
    [0.5, 0.75, 0.875]
    """
    if x.dim() != 3:
        raise ValueError(f"expected input of shape (batch, time, neurons), got {tuple(x.shape)}")
    if x.shape[1] == 0:
        return x.new_zeros(x.shape)
    if torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, alpha, u0)
    ):
        return _LeakyIntegrator.apply(x, alpha, u0)
    return _leaky_forward(x, alpha, initial(x, u0))
