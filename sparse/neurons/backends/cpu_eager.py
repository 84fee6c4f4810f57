"""Eager loops of the ``cpu`` back-end: PyTorch operations on per-step views, no autograd graph.

They serve every case the compiled loops (:mod:`.cpu_compiled`) do not: CUDA tensors
without Triton, half precision, per-neuron thresholds, no Numba. The forward loop writes
with ``out=`` operations into per-step views of preallocated ``(B, T, N)`` buffers (the
outputs themselves) and performs exactly the floating-point operations of the reference,
in the same order, so spikes and membranes are bit-identical to it. The backward loop is
the adjoint recursion of :mod:`.gradients`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..surrogate import SURROGATES
from .common import Steps, initial, loop_threads, step_views
from .gradients import PARTIAL_SUMS, finish_grads

__all__ = ["backward", "forward"]


def _forward_sparse(
    xs: Steps, alpha: Tensor, beta: Tensor, a: Tensor, b: Tensor, vt: Tensor | None,
    us: Steps, ws: Steps | None, ss: Steps, threshold: float | Tensor,
) -> None:
    """Fill ``us[1:], ws[1:], ss[1:]`` in place; index 0 holds the initial state.

    The operations and their order are those of :func:`sparse.neurons.functional.adlif_step`,
    so the results are bit-identical to the reference.
    """
    oma = 1.0 - alpha
    c = (1.0 - beta) * a
    t1, t2 = torch.empty_like(us[0]), torch.empty_like(us[0])
    for t in range(len(xs)):
        up, sp, u = us[t], ss[t], us[t + 1]
        torch.sub(up, sp, out=t1)
        torch.mul(alpha, t1, out=t1)
        if ws is not None:
            torch.mul(oma, ws[t], out=t2)
            torch.sub(t1, t2, out=t1)
        torch.add(t1, xs[t], out=u)
        if vt is not None:
            torch.mm(sp, vt, out=t2)
            u.add_(t2)
        if ws is not None:
            torch.mul(b, sp, out=t1)
            torch.add(ws[t], t1, out=t1)
            torch.mul(beta, t1, out=t1)
            torch.mul(c, u, out=t2)
            torch.add(t1, t2, out=ws[t + 1])
        torch.gt(u, threshold, out=ss[t + 1])


def _forward_sparch(
    xs: Steps, alpha: Tensor, beta: Tensor, a: Tensor, b: Tensor, vt: Tensor | None,
    us: Steps, ws: Steps | None, ss: Steps, threshold: float | Tensor,
) -> None:
    """SpArch update (:func:`sparse.neurons.functional.sparch_step`); as :func:`_forward_sparse`."""
    oma = 1.0 - alpha
    t1, t2, t3 = (torch.empty_like(us[0]) for _ in range(3))
    for t in range(len(xs)):
        up, sp, u = us[t], ss[t], us[t + 1]
        if ws is not None:
            torch.mul(beta, ws[t], out=t1)
            torch.mul(a, up, out=t2)
            t1.add_(t2)
            torch.mul(b, sp, out=t2)
            torch.add(t1, t2, out=ws[t + 1])
        if vt is not None:
            torch.mm(sp, vt, out=t2)
            torch.add(xs[t], t2, out=t3)
        else:
            torch.add(xs[t], 0.0, out=t3)
        if ws is not None:
            t3.sub_(ws[t + 1])
        t3.mul_(oma)
        torch.sub(up, sp, out=t1)
        torch.mul(alpha, t1, out=t1)
        torch.add(t1, t3, out=u)
        torch.gt(u, threshold, out=ss[t + 1])


_FORWARD = {"sparse": _forward_sparse, "sparch": _forward_sparch}


def forward(
    x: Tensor, alpha: Tensor, beta: Tensor, a: Tensor, b: Tensor, recurrent: Tensor | None,
    u0: Tensor | None, w0: Tensor | None, s0: Tensor | None, threshold: float | Tensor,
    variant: str, U: Tensor, W: Tensor | None, S: Tensor,
) -> None:
    """Fill the traces ``U, W, S`` ``(B, T, N)`` (``W`` None: the layer is not adaptive)."""
    ws = None if W is None else step_views(initial(x, w0), W)
    vt = None if recurrent is None else recurrent.T
    with loop_threads(x.device):
        _FORWARD[variant](x.unbind(1), alpha, beta, a, b, vt, step_views(initial(x, u0), U), ws,
                          step_views(initial(x, s0), S), threshold)


def _per_step(g: Tensor | None, g_final: Tensor | None, steps: int) -> list[Tensor | None]:
    """Per-step views of an incoming ``(B, T, N)`` gradient, the final-state one added last."""
    out: list[Tensor | None] = [None] * steps if g is None else list(g.unbind(1))
    if g_final is not None:
        out[-1] = g_final if out[-1] is None else out[-1] + g_final
    return out


def backward(
    variant: str, needs: tuple[bool, ...], x: Tensor | None, alpha: Tensor, beta: Tensor,
    a: Tensor, b: Tensor, recurrent: Tensor | None, U: Tensor, W: Tensor | None,
    s_bool: Tensor, init: tuple[Tensor, Tensor, Tensor], threshold: float | Tensor,
    surrogate: str, gs: Tensor | None, gu: Tensor | None, gw: Tensor | None,
    final: tuple[Tensor | None, Tensor | None, Tensor | None],
) -> tuple[Tensor | None, ...]:
    """Adjoint recursion (:mod:`.gradients`) and all gradients, reductions accumulated per step.

    Parameters
    ----------
    needs : tuple of bool
        ``needs_input_grad`` of ``(x, alpha, beta, a, b, recurrent, u0, w0, s0)``.
    x : Tensor or None
        ``(B, T, N)`` input currents (needed by the SpArch variant only).
    U, W : Tensor
        ``(B, T, N)`` saved traces (``W`` None: identically zero).
    s_bool : Tensor
        ``(B, T, N)`` saved spikes (``uint8``); ``init`` the initial ``(u, w, s)``, each ``(B, N)``.
    gs, gu, gw : Tensor or None
        ``(B, T, N)`` incoming gradients of the spikes and of the traces.
    final : tuple
        Incoming gradients of the final ``(u, w, s)``, each ``(B, N)`` or None.

    Returns
    -------
    tuple
        Gradients of ``(x, alpha, beta, a, b, recurrent, u0, w0, s0)``; ``x``'s is ``(B, T, N)``,
        each parameter's is summed to its own shape.
    """
    batch, steps, n = s_bool.shape
    sparse = variant == "sparse"
    adaptive = W is not None
    need_lw = adaptive or any(needs[2:5]) or needs[7]
    u0, w0, s0 = init
    nalpha, noma, oma = -alpha, alpha - 1.0, 1.0 - alpha
    eye_alpha = None if recurrent is None else torch.diag_embed(alpha.expand(n))
    if sparse:
        c, bs = (1.0 - beta) * a, beta * b
        vs = None if recurrent is None else recurrent - eye_alpha
    else:
        c, bs = a, b
        vs = None if recurrent is None else oma.expand(n)[:, None] * recurrent - eye_alpha
    LU = torch.empty_like(U)  # dL/du_t
    D = LU if sparse else torch.empty_like(U)  # dL/d(input current)
    lus, ds = LU.unbind(1), D.unbind(1)
    us = step_views(u0, U)
    ws = None if W is None else step_views(w0, W)
    sbs = [s0, *s_bool.unbind(1)]  # spikes entering step i: sbs[i]
    xs = None if x is None else x.unbind(1)
    gu_t, gw_t, gs_t = final
    gss = _per_step(gs, gs_t, steps)
    gus, gws = _per_step(gu, gu_t, steps), _per_step(gw, gw_t, steps)
    sg_fn = SURROGATES[surrogate]
    zero = U.new_zeros(batch, n)
    ls, xb, sp = (U.new_empty(batch, n) for _ in range(3))
    lw_bufs = (U.new_zeros(batch, n), U.new_zeros(batch, n))
    # Partial sums over time of the parameter-gradient products, each a (B, N) view.
    acc = U.new_zeros(batch, len(PARTIAL_SUMS), n)
    sums = dict(zip(PARTIAL_SUMS, acc.unbind(1), strict=True))
    a_up, a_sp, a_w, a_x = sums["lu_up"], sums["lu_sp"], sums["lu_w"], sums["lu_x"]
    b_u, b_sp, b_wp = sums["lw_u"], sums["lw_sp"], sums["lw_wp"]
    need_alpha, has_vs = needs[1], vs is not None
    lwn = lw_bufs[1]
    with loop_threads(U.device):
        for i in range(steps - 1, -1, -1):
            lun = lus[i + 1] if i + 1 < steps else zero
            lw, lu = lw_bufs[i % 2], lus[i]
            uc, up = us[i + 1], us[i]
            sp.copy_(sbs[i])
            torch.sub(uc, threshold, out=xb)
            sg = sg_fn(xb)
            # ls: adjoint of the spikes of step i (entering step i + 1)
            if has_vs:
                torch.mm(lun, vs, out=ls)
            else:
                torch.mul(nalpha, lun, out=ls)
            if adaptive:
                ls.addcmul_(bs, lwn)
            if gss[i] is not None:
                ls.add_(gss[i])
            if sparse and need_lw:
                torch.mul(beta, lwn, out=lw)
                lw.addcmul_(noma, lun)
                if gws[i] is not None:
                    lw.add_(gws[i])
            torch.mul(alpha, lun, out=lu)
            if adaptive:
                lu.addcmul_(c, lw if sparse else lwn)
            lu.addcmul_(sg, ls)
            if gus[i] is not None:
                lu.add_(gus[i])
            if not sparse:
                torch.mul(oma, lu, out=ds[i])
                if need_lw:
                    torch.mul(beta, lwn, out=lw)
                    lw.sub_(ds[i])
                    if gws[i] is not None:
                        lw.add_(gws[i])
            if need_alpha:
                a_up.addcmul_(lu, up)
                a_sp.addcmul_(lu, sp)
                if adaptive:
                    a_w.addcmul_(lu, ws[i] if sparse else ws[i + 1])
                if not sparse:
                    a_x.addcmul_(lu, xs[i])
            if need_lw:
                b_u.addcmul_(lw, uc if sparse else up)
                b_sp.addcmul_(lw, sp)
                if adaptive:
                    b_wp.addcmul_(lw, ws[i])
            lwn = lw
    return finish_grads(variant, needs, alpha, beta, a, b, recurrent, acc, LU, D, s0, s_bool,
                        lus[0], lwn, adaptive)
