r"""The hand-written BPTT of the fast back-ends: adjoint recursion and parameter gradients.

The ``cpu`` (eager and compiled) and ``triton`` back-ends run the forward scan without
an autograd graph and the backward pass as the adjoint recursion below, over
``t = T-1 .. 0``.

SPARSE variant (``u_t`` feeds ``w_t`` in the same step)::

    ls_t = gs_t + lu_{t+1} (V - diag alpha) + beta b lw_{t+1}
    lw_t = gw_t + beta lw_{t+1} - (1 - alpha) lu_{t+1}
    lu_t = gu_t + alpha lu_{t+1} + (1 - beta) a lw_t + sigma'(u_t - theta) ls_t

SpArch variant (``w_t`` feeds ``u_t`` in the same step)::

    ls_t = gs_t + lu_{t+1} ((1 - alpha) V - diag alpha) + b lw_{t+1}
    lu_t = gu_t + alpha lu_{t+1} + a lw_{t+1} + sigma'(u_t - theta) ls_t
    lw_t = gw_t + beta lw_{t+1} - (1 - alpha) lu_t

where ``lu, lw, ls`` are the total derivatives of the loss with respect to
``u_t, w_t, s_t`` and ``g*`` the incoming gradients. The products the parameter
gradients need are accumulated per step into ``(B, N)`` partial sums while the
operands are still in cache or registers (named and ordered by :data:`PARTIAL_SUMS`),
and :func:`finish_grads` turns them, with the stacked adjoints, into the gradients;
the recurrent matrix gradient is one GEMM of the stacked adjoints with the stacked
previous spikes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["PARTIAL_SUMS", "finish_grads", "prev_spikes", "with_final"]

#: Partial sums over time of the parameter-gradient products, in the order in which the
#: compiled kernels (:mod:`.cpu_kernels`, :mod:`.triton_kernels`) store them along the
#: ``(B, 7, N)`` accumulator: ``lu*u_prev``, ``lu*s_prev``, ``lu*w`` (``w_{t-1}`` SPARSE,
#: ``w_t`` SpArch), ``lu*x`` (SpArch), ``lw*s_prev``, ``lw*u`` (``u_t`` SPARSE, ``u_{t-1}``
#: SpArch) and ``lw*w_prev``.
PARTIAL_SUMS = ("lu_up", "lu_sp", "lu_w", "lu_x", "lw_sp", "lw_u", "lw_wp")


def with_final(g: Tensor | None, g_last: Tensor | None, like: Tensor) -> Tensor | None:
    """An incoming ``(B, T, N)`` gradient with the final-state one ``(B, N)`` added at the end.

    For the compiled ``cpu`` loops and the ``triton`` kernels, which take the gradient of
    the whole trace only.
    """
    if g_last is None:
        return g
    g = torch.zeros_like(like) if g is None else g.clone()
    g[:, -1] += g_last
    return g


def prev_spikes(s0: Tensor, s_bool: Tensor) -> Tensor:
    """``(B*T, N)`` float matrix of the spikes entering each step: ``s_0 .. s_{T-1}``."""
    batch, steps, n = s_bool.shape
    out = s0.new_empty(batch, steps, n)
    out[:, 0] = s0
    out[:, 1:] = s_bool[:, :-1]  # (the copy converts uint8 to the float dtype)
    return out.view(-1, n)


def _dense_gram(a: Tensor, s: Tensor) -> Tensor:
    return a.T @ s


def finish_grads(
    variant: str, needs: tuple[bool, ...], alpha: Tensor, beta: Tensor, a: Tensor, b: Tensor,
    recurrent: Tensor | None, acc: Tensor, LU: Tensor, D: Tensor, s0: Tensor, s_bool: Tensor,
    l1: Tensor, l1w: Tensor, adaptive: bool,
    gram: Callable[[Tensor, Tensor], Tensor] = _dense_gram,
) -> tuple[Tensor | None, ...]:
    """Gradients from the adjoints (shared by the ``cpu`` and ``triton`` back-ends).

    Parameters
    ----------
    needs : tuple of bool
        ``needs_input_grad`` of ``(x, alpha, beta, a, b, recurrent, u0, w0, s0)``.
    acc : Tensor
        ``(B, 7, N)`` per-row sums over time of the products named in :data:`PARTIAL_SUMS`.
    LU, D : Tensor
        ``(B, T, N)`` adjoints of the membrane and of the input current.
    s0, s_bool : Tensor
        Initial spikes ``(B, N)`` and the spikes ``(B, T, N)`` (any dtype, e.g. ``uint8``).
    l1, l1w : Tensor
        ``(B, N)`` adjoints of ``u_1`` and ``w_1``.
    gram : callable
        ``gram(a, s) = a.T @ s`` for ``(B*T, N)`` matrices, ``s`` the previous spikes: the
        products with the recurrent matrix's input (the ``cpu`` back-end passes its
        event-driven :func:`.spike_linear.spike_gram`).

    Returns
    -------
    tuple
        Gradients of ``(x, alpha, beta, a, b, recurrent, u0, w0, s0)`` or None where not needed.
    """
    n = LU.shape[-1]
    sparse = variant == "sparse"
    oma = 1.0 - alpha
    sums = dict(zip(PARTIAL_SUMS, acc.sum(0).unbind(0), strict=True))
    s_prev = None
    if recurrent is not None and (needs[5] or (needs[1] and not sparse)):
        s_prev = prev_spikes(s0, s_bool)

    def shaped(g: Tensor, like: Tensor) -> Tensor:
        return g.expand(n).sum_to_size(like.shape)

    g_alpha = g_beta = g_a = g_b = g_v = None
    if needs[1]:
        # sparse: du/dalpha = u_{t-1} - s_{t-1} + w_{t-1};  sparch: u_{t-1} - s_{t-1} - drive_t
        g = sums["lu_up"] - sums["lu_sp"] + sums["lu_w"]
        if not sparse:
            g = g - sums["lu_x"]
            if recurrent is not None:  # sum_tb lu * (s_prev V^T) = rowsum(V * LU^T S_prev)
                g = g - (recurrent * gram(LU.reshape(-1, n), s_prev)).sum(1)
        g_alpha = shaped(g, alpha)
    if sparse:
        if needs[2]:
            g_beta = shaped(sums["lw_wp"] + b * sums["lw_sp"] - a * sums["lw_u"], beta)
        g_a = shaped((1.0 - beta) * sums["lw_u"], a) if needs[3] else None
        g_b = shaped(beta * sums["lw_sp"], b) if needs[4] else None
    else:
        g_beta = shaped(sums["lw_wp"], beta) if needs[2] else None
        g_a = shaped(sums["lw_u"], a) if needs[3] else None
        g_b = shaped(sums["lw_sp"], b) if needs[4] else None
    if recurrent is not None and needs[5]:
        g_v = gram(D.reshape(-1, n), s_prev)
    g_u0 = g_w0 = g_s0 = None
    if needs[6]:
        g_u0 = alpha * l1 if sparse or not adaptive else alpha * l1 + a * l1w
    if needs[7]:
        g_w0 = beta * l1w - oma * l1 if sparse else beta * l1w
    if needs[8]:
        # adjoint of s_0: -alpha lu_1 + (lu_1 or d_1) V + (beta b or b) lw_1
        g_s0 = -alpha * l1
        if recurrent is not None:
            g_s0 = g_s0 + (l1 if sparse else oma * l1) @ recurrent
        if adaptive:
            g_s0 = g_s0 + (beta * b if sparse else b) * l1w
    return D if needs[0] else None, g_alpha, g_beta, g_a, g_b, g_v, g_u0, g_w0, g_s0
