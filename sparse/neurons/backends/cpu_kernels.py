r"""Compiled CPU loops of the adaptive LIF scans (Numba), used by :mod:`.cpu` when available.

The eager loop of :mod:`.cpu` spends its time in PyTorch's per-operation dispatch
(about ten ``(B, N)`` operations per step, each a few microseconds) and in a dense
``(B, N) x (N, N)`` product per step. Here one compiled loop per batch row walks
the whole sequence, neuron by neuron, and the recurrence exploits what a spiking
layer offers:

* forward: the recurrent current ``s_{t-1} V^T`` is the sum of the rows of ``V^T``
  of the neurons that spiked, so each step costs (firing rate) x ``N^2`` additions;
* backward: the adjoint of a spike only enters the membrane adjoint multiplied by the
  surrogate derivative, so the product with ``V`` is evaluated for the neurons whose
  surrogate derivative is non-zero (all of them for ``fast_sigmoid``, the ones
  within half a unit of the threshold for ``boxcar``).

Batch rows are independent and run in parallel (``prange``) on
``min(torch.get_num_threads(), batch)`` threads.

Elementwise updates perform the reference's floating-point operations in its
order (no fast-math), so layers without recurrence are bit-identical to
:func:`sparse.neurons.functional.adlif_scan`; with recurrence the current is summed
in another order than the reference's matrix product (a few ulp of ``u``). The
adjoint recursion is the one written out in :mod:`.cpu`.

Every kernel takes flags as arguments instead of compiling one specialisation per
layer type, so that there are two compilations per dtype, cached on disk by Numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["scan_forward", "scan_backward", "ACC_KEYS"]

#: Order of the per-row partial sums written by :func:`scan_backward` (``cpu.finish_grads``).
ACC_KEYS = ("lu_up", "lu_sp", "lu_w", "lu_x", "lw_u", "lw_sp", "lw_wp")

BOXCAR, FAST_SIGMOID, TRIANGLE = 0, 1, 2


@njit(cache=True, fastmath=True)
def _dot(a, b, zero):
    """``sum_i a[i] b[i]``; re-association allowed so that it vectorises."""
    s = zero
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@njit(cache=True)
def _surrogate(x, kind, one, slope):
    """Pseudo-derivative at ``x = u - threshold`` (formulas of :mod:`..surrogate`)."""
    if kind == BOXCAR:
        return one if (x > -0.5) and (x <= 0.5) else one - one
    if kind == FAST_SIGMOID:
        d = one + slope * abs(x)
        return one / (d * d)
    r = one - abs(x)
    return r if r > 0 else one - one


@njit(cache=True, parallel=True)
def scan_forward(x, alpha, oma, beta, a, b, c, vt, u0, w0, s0, threshold,
                 sparse, adaptive, recurrent, U, W, S):
    """Fill ``U, W, S`` ``(B, T, N)`` (``W`` only when ``adaptive``).

    ``oma = 1 - alpha`` and ``c = (1 - beta) a`` are precomputed by the caller in
    PyTorch (as the reference computes them); ``vt`` is ``V^T`` contiguous ``(N, N)``.
    """
    batch, steps, n = x.shape
    for bi in prange(batch):
        up, wp, sp = u0[bi].copy(), w0[bi].copy(), s0[bi].copy()
        rec = np.zeros(n, dtype=x.dtype)
        for t in range(steps):
            if recurrent:
                rec[:] = 0.0
                for j in range(n):
                    if sp[j] != 0.0:
                        sj, row = sp[j], vt[j]
                        for i in range(n):
                            rec[i] += row[i] * sj
            for i in range(n):
                if sparse:
                    u = alpha[i] * (up[i] - sp[i])
                    if adaptive:
                        u = u - oma[i] * wp[i]
                    u = u + x[bi, t, i]
                    if recurrent:
                        u = u + rec[i]
                    if adaptive:
                        w = beta[i] * (wp[i] + b[i] * sp[i]) + c[i] * u
                        W[bi, t, i] = w
                        wp[i] = w
                else:
                    drive = x[bi, t, i]
                    if recurrent:
                        drive = drive + rec[i]
                    if adaptive:
                        w = beta[i] * wp[i] + a[i] * up[i] + b[i] * sp[i]
                        W[bi, t, i] = w
                        wp[i] = w
                        drive = drive - w
                    u = alpha[i] * (up[i] - sp[i]) + oma[i] * drive
                s = 1.0 if u > threshold else 0.0
                U[bi, t, i] = u
                S[bi, t, i] = s
                up[i] = u
                sp[i] = s


@njit(cache=True, parallel=True)
def scan_backward(x, U, W, bits, u0, w0, s0, alpha, oma, beta, a, c, bs, vt, gs, gu, gw,
                  consts, threshold, surrogate, sparse, adaptive, recurrent, has_gs, has_gu,
                  has_gw, LU, D, acc, lw1):
    """Adjoint recursion of :mod:`.cpu` over ``t = T-1 .. 0``, one batch row per thread.

    Writes ``LU`` and ``D`` ``(B, T, N)`` (the same array for the SPARSE variant), the
    per-row partial sums ``acc`` ``(B, 7, N)`` in :data:`ACC_KEYS` order and the adjoint
    of ``w_1`` ``lw1`` ``(B, N)``. ``consts`` holds ``(0, 1, fast-sigmoid slope)`` in the
    data type; ``bs`` is ``beta * b`` (SPARSE) or ``b`` (SpArch).
    """
    batch, steps, n = U.shape
    zero, one, slope = consts[0], consts[1], consts[2]
    for bi in prange(batch):
        lun = np.zeros(n, dtype=U.dtype)  # lu_{t+1}, overwritten neuron by neuron
        lwn = np.zeros(n, dtype=U.dtype)  # lw_{t+1}
        # partial sums over time of the parameter-gradient products (module docstring of .cpu)
        a_up, a_sp, a_w = np.zeros(n, U.dtype), np.zeros(n, U.dtype), np.zeros(n, U.dtype)
        a_x, b_u, b_sp = np.zeros(n, U.dtype), np.zeros(n, U.dtype), np.zeros(n, U.dtype)
        b_wp = np.zeros(n, U.dtype)
        for t in range(steps - 1, -1, -1):
            for j in range(n):
                uc = U[bi, t, j]
                if t > 0:
                    up = U[bi, t - 1, j]
                    sp = one if bits[bi, t - 1, j] != 0 else zero
                    wp = W[bi, t - 1, j] if adaptive else zero
                else:
                    up, sp = u0[bi, j], s0[bi, j]
                    wp = w0[bi, j] if adaptive else zero
                sg = _surrogate(uc - threshold, surrogate, one, slope)
                ls = zero
                if sg != 0.0:  # the spike adjoint only enters lu through sg
                    if recurrent and t < steps - 1:
                        ls = _dot(D[bi, t + 1], vt[j], zero) - alpha[j] * lun[j]
                    else:
                        ls = -alpha[j] * lun[j]
                    if adaptive:
                        ls = ls + bs[j] * lwn[j]
                    if has_gs:
                        ls = ls + gs[bi, t, j]
                if sparse:
                    lw = beta[j] * lwn[j] + (alpha[j] - one) * lun[j]
                    if has_gw:
                        lw = lw + gw[bi, t, j]
                    lu = alpha[j] * lun[j]
                    if adaptive:
                        lu = lu + c[j] * lw
                    lu = lu + sg * ls
                    if has_gu:
                        lu = lu + gu[bi, t, j]
                    LU[bi, t, j] = lu
                    if adaptive:
                        a_w[j] += lu * wp
                    b_u[j] += lw * uc
                else:
                    lu = alpha[j] * lun[j]
                    if adaptive:
                        lu = lu + a[j] * lwn[j]
                    lu = lu + sg * ls
                    if has_gu:
                        lu = lu + gu[bi, t, j]
                    d = oma[j] * lu
                    lw = beta[j] * lwn[j] - d
                    if has_gw:
                        lw = lw + gw[bi, t, j]
                    LU[bi, t, j] = lu
                    D[bi, t, j] = d
                    if adaptive:
                        a_w[j] += lu * W[bi, t, j]
                    a_x[j] += lu * x[bi, t, j]
                    b_u[j] += lw * up
                a_up[j] += lu * up
                a_sp[j] += lu * sp
                b_sp[j] += lw * sp
                if adaptive:
                    b_wp[j] += lw * wp
                lun[j] = lu
                lwn[j] = lw
        acc[bi, 0, :] = a_up
        acc[bi, 1, :] = a_sp
        acc[bi, 2, :] = a_w
        acc[bi, 3, :] = a_x
        acc[bi, 4, :] = b_u
        acc[bi, 5, :] = b_sp
        acc[bi, 6, :] = b_wp
        lw1[bi, :] = lwn
