r"""Compiled CPU loops of the adaptive LIF scans (Numba), used by :mod:`.cpu` when available.

The eager loop of :mod:`.cpu` spends its time in PyTorch's per-operation dispatch
(about ten ``(B, N)`` operations per step, each a few microseconds) and in a dense
``(B, N) x (N, N)`` product per step. Here compiled loops walk the whole sequence,
neuron by neuron, and the recurrence exploits what a spiking layer offers:

* forward: the recurrent current ``s_{t-1} V^T`` is the sum of the rows of ``V^T``
  of the neurons that spiked, so each step costs (firing rate) x ``N^2`` additions;
* backward: the adjoint of a spike only enters the membrane adjoint multiplied by the
  surrogate derivative, so the product with ``V`` is evaluated for the neurons whose
  surrogate derivative is non-zero (all of them for ``fast_sigmoid``, the ones
  within half a unit of the threshold for ``boxcar``).

Batch rows are independent: they are split into chunks that run in parallel
(``prange``) on ``min(torch.get_num_threads(), batch)`` threads; within a chunk the
loop is over time, then neurons, then the chunk's rows, so that each row of ``V``
loaded from memory serves every batch row of the chunk. The body of a chunk is one
function (``_forward_rows``, ``_backward_rows``) called by a parallel driver
(``scan_forward``, ``scan_backward``) and by a serial twin (``*_serial``) for a plan
of one thread: a Numba parallel region costs nothing in arithmetic, but it starts
Numba's threading layer (GNU OpenMP here, which a forked child cannot use).

Elementwise updates perform the reference's floating-point operations in its
order (no fast-math), so layers without recurrence are bit-identical to
:func:`sparse.neurons.functional.adlif_scan`; with recurrence the current is summed
in another order than the reference's matrix product (a few ulp of ``u``). The
adjoint recursion is the one written out in :mod:`.gradients`; Python-side plumbing
(threads, dtypes, loading) is in :mod:`.cpu_compiled`.

Every kernel takes flags as arguments instead of compiling one specialisation per
layer type, so that there are two compilations per dtype, cached on disk by Numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..surrogate import SURROGATE_IDS

__all__ = ["scan_backward", "scan_backward_serial", "scan_forward", "scan_forward_serial"]

BOXCAR, FAST_SIGMOID = SURROGATE_IDS["boxcar"], SURROGATE_IDS["fast_sigmoid"]  # else triangle


@njit(cache=True)
def _chunk(ci, chunks, batch):
    """Rows ``[lo, hi)`` of chunk ``ci`` when ``batch`` rows are split into ``chunks``."""
    return ci * batch // chunks, (ci + 1) * batch // chunks


@njit(cache=True, fastmath=True)
def _dot(a, b, zero):
    """``sum_i a[i] b[i]``; re-association allowed so that it vectorises."""
    s = zero
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@njit(cache=True, fastmath=True)
def _dot2(a1, a2, b, zero):
    """``(a1 . b, a2 . b)`` with one pass over ``b``."""
    s1, s2 = zero, zero
    for i in range(b.shape[0]):
        s1 += a1[i] * b[i]
        s2 += a2[i] * b[i]
    return s1, s2


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


@njit(cache=True)
def _forward_rows(lo, hi, x, alpha, oma, beta, a, b, c, vt, u0, w0, s0, threshold,
                  sparse, adaptive, recurrent, U, W, S):
    """:func:`scan_forward` for the batch rows ``[lo, hi)`` (one chunk)."""
    steps, n = x.shape[1], x.shape[2]
    m = hi - lo
    up, wp, sp = u0[lo:hi].copy(), w0[lo:hi].copy(), s0[lo:hi].copy()  # (m, N)
    rec = np.zeros((m, n), dtype=x.dtype)
    for t in range(steps):
        if recurrent:
            rec[:] = 0.0
            for j in range(n):
                row = vt[j]
                for r in range(m):
                    sj = sp[r, j]
                    if sj != 0.0:  # binary spikes: only spiking neurons contribute
                        for i in range(n):
                            rec[r, i] += row[i] * sj
        for r in range(m):
            bi = lo + r
            for i in range(n):
                if sparse:
                    u = alpha[i] * (up[r, i] - sp[r, i])
                    if adaptive:
                        u = u - oma[i] * wp[r, i]
                    u = u + x[bi, t, i]
                    if recurrent:
                        u = u + rec[r, i]
                    if adaptive:
                        w = beta[i] * (wp[r, i] + b[i] * sp[r, i]) + c[i] * u
                        W[bi, t, i] = w
                        wp[r, i] = w
                else:
                    drive = x[bi, t, i]
                    if recurrent:
                        drive = drive + rec[r, i]
                    if adaptive:
                        w = beta[i] * wp[r, i] + a[i] * up[r, i] + b[i] * sp[r, i]
                        W[bi, t, i] = w
                        wp[r, i] = w
                        drive = drive - w
                    u = alpha[i] * (up[r, i] - sp[r, i]) + oma[i] * drive
                s = 1.0 if u > threshold else 0.0
                U[bi, t, i] = u
                S[bi, t, i] = s
                up[r, i] = u
                sp[r, i] = s


@njit(cache=True, parallel=True)
def scan_forward(x, alpha, oma, beta, a, b, c, vt, u0, w0, s0, threshold,
                 sparse, adaptive, recurrent, chunks, U, W, S):
    """Fill ``U, W, S`` ``(B, T, N)`` (``W`` only when ``adaptive``), chunks on parallel threads.

    ``oma = 1 - alpha`` and ``c = (1 - beta) a`` are precomputed by the caller in
    PyTorch (as the reference computes them); ``vt`` is ``V^T`` contiguous ``(N, N)``;
    ``u0, w0, s0`` are ``(B, N)``. The batch is split into ``chunks`` of rows; a chunk
    walks time step by step so that each row of ``V^T`` read from memory serves all its
    batch rows.
    """
    batch = x.shape[0]
    for ci in prange(chunks):
        lo, hi = _chunk(ci, chunks, batch)
        _forward_rows(lo, hi, x, alpha, oma, beta, a, b, c, vt, u0, w0, s0, threshold,
                      sparse, adaptive, recurrent, U, W, S)


@njit(cache=True)
def scan_forward_serial(x, alpha, oma, beta, a, b, c, vt, u0, w0, s0, threshold,
                        sparse, adaptive, recurrent, chunks, U, W, S):
    """:func:`scan_forward` on the calling thread only (no parallel region: Numba's
    threading layer is not started)."""
    batch = x.shape[0]
    for ci in range(chunks):
        lo, hi = _chunk(ci, chunks, batch)
        _forward_rows(lo, hi, x, alpha, oma, beta, a, b, c, vt, u0, w0, s0, threshold,
                      sparse, adaptive, recurrent, U, W, S)


@njit(cache=True)
def _backward_rows(lo, hi, x, U, W, bits, u0, w0, s0, alpha, oma, beta, a, c, bs, vt, gs, gu,
                   gw, consts, threshold, surrogate, sparse, adaptive, recurrent, has_gs, has_gu,
                   has_gw, LU, D, acc, lw1):
    """:func:`scan_backward` for the batch rows ``[lo, hi)`` (one chunk)."""
    steps, n = U.shape[1], U.shape[2]
    zero, one, slope = consts[0], consts[1], consts[2]
    m = hi - lo
    lun = np.zeros((m, n), dtype=U.dtype)  # lu_{t+1}, overwritten neuron by neuron
    lwn = np.zeros((m, n), dtype=U.dtype)  # lw_{t+1}
    sg = np.zeros((m, n), dtype=U.dtype)
    lsr = np.zeros((m, n), dtype=U.dtype)  # recurrent part of the spike adjoint
    sp_row = np.zeros(n, dtype=U.dtype)
    active = np.zeros(m, dtype=np.int64)  # rows with a non-zero surrogate derivative
    for t in range(steps - 1, -1, -1):
        for r in range(m):
            for j in range(n):
                sg[r, j] = _surrogate(U[lo + r, t, j] - threshold, surrogate, one, slope)
        if recurrent and t < steps - 1:
            for j in range(n):
                # the spike adjoint only enters lu multiplied by sg: skip its zeros, and
                # take the remaining rows two at a time (one load of V per two products)
                k = 0
                for r in range(m):
                    lsr[r, j] = zero
                    if sg[r, j] != 0:
                        active[k] = r
                        k += 1
                row = vt[j]
                for q in range(0, k - 1, 2):
                    r1, r2 = active[q], active[q + 1]
                    lsr[r1, j], lsr[r2, j] = _dot2(D[lo + r1, t + 1], D[lo + r2, t + 1],
                                                   row, zero)
                if k % 2 == 1:
                    r1 = active[k - 1]
                    lsr[r1, j] = _dot(D[lo + r1, t + 1], row, zero)
        for r in range(m):
            bi = lo + r
            u_row = U[bi, t]
            if t > 0:
                up_row = U[bi, t - 1]
                wp_row = W[bi, t - 1] if adaptive else w0[bi]
                for j in range(n):
                    sp_row[j] = bits[bi, t - 1, j]
            else:
                up_row, wp_row = u0[bi], w0[bi]
                sp_row[:] = s0[bi]
            # branch-free over neurons (the flags are loop-invariant), so that it vectorises
            for j in range(n):
                uc, up, sp, wp = u_row[j], up_row[j], sp_row[j], wp_row[j]
                ls = lsr[r, j] - alpha[j] * lun[r, j]
                if adaptive:
                    ls = ls + bs[j] * lwn[r, j]
                if has_gs:
                    ls = ls + gs[bi, t, j]
                if sparse:
                    lw = beta[j] * lwn[r, j] + (alpha[j] - one) * lun[r, j]
                    if has_gw:
                        lw = lw + gw[bi, t, j]
                    lu = alpha[j] * lun[r, j]
                    if adaptive:
                        lu = lu + c[j] * lw
                    lu = lu + sg[r, j] * ls
                    if has_gu:
                        lu = lu + gu[bi, t, j]
                    LU[bi, t, j] = lu
                    if adaptive:
                        acc[bi, 2, j] += lu * wp
                    acc[bi, 5, j] += lw * uc
                else:
                    lu = alpha[j] * lun[r, j]
                    if adaptive:
                        lu = lu + a[j] * lwn[r, j]
                    lu = lu + sg[r, j] * ls
                    if has_gu:
                        lu = lu + gu[bi, t, j]
                    d = oma[j] * lu
                    lw = beta[j] * lwn[r, j] - d
                    if has_gw:
                        lw = lw + gw[bi, t, j]
                    LU[bi, t, j] = lu
                    D[bi, t, j] = d
                    if adaptive:
                        acc[bi, 2, j] += lu * W[bi, t, j]
                    acc[bi, 3, j] += lu * x[bi, t, j]
                    acc[bi, 5, j] += lw * up
                acc[bi, 0, j] += lu * up
                acc[bi, 1, j] += lu * sp
                acc[bi, 4, j] += lw * sp
                if adaptive:
                    acc[bi, 6, j] += lw * wp
                lun[r, j] = lu
                lwn[r, j] = lw
    for r in range(m):
        lw1[lo + r, :] = lwn[r]


@njit(cache=True, parallel=True)
def scan_backward(x, U, W, bits, u0, w0, s0, alpha, oma, beta, a, c, bs, vt, gs, gu, gw,
                  consts, threshold, surrogate, sparse, adaptive, recurrent, has_gs, has_gu,
                  has_gw, chunks, LU, D, acc, lw1):
    """Adjoint recursion of :mod:`.gradients` over ``t = T-1 .. 0``, in chunks of batch rows.

    Writes ``LU`` and ``D`` ``(B, T, N)`` (the same array for the SPARSE variant), adds the
    per-row sums over time ``acc`` ``(B, 7, N)`` (zero on entry) in the order of
    :data:`.gradients.PARTIAL_SUMS` (the literal slot numbers of ``_backward_rows``)
    (per row, so that no result depends on how rows are split among threads) and the adjoint
    of ``w_1`` ``lw1`` ``(B, N)``. ``consts`` holds ``(0, 1, fast-sigmoid slope)`` in the
    data type; ``bs`` is ``beta * b`` (SPARSE) or ``b`` (SpArch).
    """
    batch = U.shape[0]
    for ci in prange(chunks):
        lo, hi = _chunk(ci, chunks, batch)
        _backward_rows(lo, hi, x, U, W, bits, u0, w0, s0, alpha, oma, beta, a, c, bs, vt, gs,
                       gu, gw, consts, threshold, surrogate, sparse, adaptive, recurrent, has_gs,
                       has_gu, has_gw, LU, D, acc, lw1)


@njit(cache=True)
def scan_backward_serial(x, U, W, bits, u0, w0, s0, alpha, oma, beta, a, c, bs, vt, gs, gu, gw,
                         consts, threshold, surrogate, sparse, adaptive, recurrent, has_gs,
                         has_gu, has_gw, chunks, LU, D, acc, lw1):
    """:func:`scan_backward` on the calling thread only (no parallel region)."""
    batch = U.shape[0]
    for ci in range(chunks):
        lo, hi = _chunk(ci, chunks, batch)
        _backward_rows(lo, hi, x, U, W, bits, u0, w0, s0, alpha, oma, beta, a, c, bs, vt, gs,
                       gu, gw, consts, threshold, surrogate, sparse, adaptive, recurrent, has_gs,
                       has_gu, has_gw, LU, D, acc, lw1)
