r"""Compiled (Numba) loops of the event-driven feed-forward product ``y = (m * x) W^T + b``.

``x`` is a ``(R, I)`` matrix of spikes (``R = B * T`` rows, a few per cent non-zero),
``m`` an optional inverted-dropout mask (0 or ``1 / (1 - p)``), ``W`` the ``(O, I)``
weight, stored transposed (``W^T``, ``(I, O)`` contiguous) so that each active input
adds one contiguous row. Used by :mod:`.spike_linear`, which holds the maths and the
choice between these loops and dense products.

* :func:`count_rows` / :func:`gather_rows`: the active entries of each row (``x != 0``
  and kept by the dropout mask) as column indices and values ``m * x``, row by row
  (compressed sparse rows); :func:`to_columns` regroups them by column;
* :func:`forward_rows`: gathers them and sums ``y_r = b + sum_k v_k W^T[i_k]`` over the
  active entries of row ``r``;
* :func:`weight_grad_columns`: ``dW^T[i] = sum_k v_k g[r_k]`` over the active rows of column ``i``;
* :func:`input_grad_support`: ``dx[r, i] = m[r, i] (g_r . W^T[i])``
  on the entries where the spiking layer that produced ``x`` has a non-zero surrogate
  derivative (elsewhere the gradient is multiplied by zero in that layer's backward pass);
* :func:`apply_mask`: multiply a dense ``(R, I)`` matrix by ``m`` (dense fallbacks).

The dropout mask is never stored: entry ``(r, i)`` is kept when the SplitMix64 hash of
``seed + (r I + i) * gamma`` (Steele, Lea & Flood, OOPSLA 2014) is at least ``p 2^{53}``
in its top 53 bits, so every loop evaluates the mask where it needs it, in any order, and
one ``seed`` drawn from PyTorch's generator per call keeps runs reproducible.

Every result is computed row by row (or column by column) in a fixed order, so that it
does not depend on how rows are split among threads. Sums of several active rows are
re-associated (``fastmath``) and may differ from a dense BLAS product by a few ulp.
Parallel drivers split rows (or columns) among Numba threads; their ``*_serial`` twins
run on the calling thread only, without starting Numba's threading layer (see
:mod:`.cpu_compiled`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..surrogate import SURROGATE_IDS
from .cpu_kernels import _chunk

__all__ = ["apply_mask", "apply_mask_serial", "count_rows", "forward_rows", "forward_rows_serial",
           "gather_rows", "gather_rows_serial", "input_grad_support", "input_grad_support_serial",
           "keep", "scatter_rows", "support_count", "to_columns", "weight_grad_columns",
           "weight_grad_columns_serial"]

BOXCAR, TRIANGLE = SURROGATE_IDS["boxcar"], SURROGATE_IDS["triangle"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True)
def keep(seed, pos, cut):
    """Whether dropout keeps flat position ``pos``: SplitMix64 of ``seed + pos * gamma``,
    top 53 bits ``>= cut`` (``cut = p 2^53``: probability ``1 - p``)."""
    z = seed + np.uint64(pos) * _GAMMA
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) >= cut


@njit(cache=True)
def count_rows(x, counts):
    """``counts[r]``: the non-zero entries of row ``r`` of ``x`` ``(R, I)``; their sum."""
    total = 0
    for r in range(x.shape[0]):
        row = x[r]
        c = 0
        for i in range(row.shape[0]):
            c += row[i] != 0
        counts[r] = c
        total += c
    return total


@njit(cache=True)
def _gather(lo, hi, x, start, seed, cut, scale, dropout, idx, val, end):
    width = x.shape[1]
    for r in range(lo, hi):
        row = x[r]
        k = start[r]
        if dropout:
            base = r * width
            for i in range(width):
                if row[i] != 0 and keep(seed, base + i, cut):
                    idx[k] = i
                    val[k] = row[i] * scale
                    k += 1
        else:
            last = width - 1
            while last >= 0 and row[last] == 0:
                last -= 1
            # branch-free up to the last non-zero entry: each entry is written and the count
            # decides whether it stays (so nothing is written past this row's slots)
            for i in range(last + 1):
                idx[k] = i
                val[k] = row[i]
                k += row[i] != 0
        end[r] = k


@njit(cache=True, parallel=True)
def gather_rows(x, start, seed, cut, scale, dropout, idx, val, end, chunks):
    """Active entries of each row of ``x`` ``(R, I)``, from ``start[r]`` to ``end[r]``.

    ``start`` ``(R,)`` holds the offsets of the non-zero counts (:func:`count_rows`). With
    ``dropout`` an entry is kept by :func:`keep` and its value is ``x * scale``; without,
    every non-zero entry is kept with its value.
    """
    for ci in prange(chunks):
        lo, hi = _chunk(ci, chunks, x.shape[0])
        _gather(lo, hi, x, start, seed, cut, scale, dropout, idx, val, end)


@njit(cache=True)
def gather_rows_serial(x, start, seed, cut, scale, dropout, idx, val, end, chunks):
    """:func:`gather_rows` on the calling thread."""
    _gather(0, x.shape[0], x, start, seed, cut, scale, dropout, idx, val, end)


@njit(cache=True, fastmath=True)
def _forward(lo, hi, start, end, idx, val, wt, bias, out):
    width = wt.shape[1]
    for r in range(lo, hi):
        acc = out[r]
        for j in range(width):
            acc[j] = bias[j]
        k, k1 = start[r], end[r]
        while k + 4 <= k1:  # four rows of W^T per pass over the accumulator
            w1, w2, w3, w4 = wt[idx[k]], wt[idx[k + 1]], wt[idx[k + 2]], wt[idx[k + 3]]
            v1, v2, v3, v4 = val[k], val[k + 1], val[k + 2], val[k + 3]
            for j in range(width):
                acc[j] += (v1 * w1[j] + v2 * w2[j]) + (v3 * w3[j] + v4 * w4[j])
            k += 4
        while k < k1:
            w1, v1 = wt[idx[k]], val[k]
            for j in range(width):
                acc[j] += v1 * w1[j]
            k += 1


@njit(cache=True, parallel=True)
def forward_rows(x, start, seed, cut, scale, dropout, idx, val, end, wt, bias, out, chunks):
    """:func:`gather_rows`, then ``out[r] = bias + sum_k val[k] wt[idx[k]]`` over the active
    entries of row ``r``, chunk by chunk (one parallel region for both)."""
    for ci in prange(chunks):
        lo, hi = _chunk(ci, chunks, out.shape[0])
        _gather(lo, hi, x, start, seed, cut, scale, dropout, idx, val, end)
        _forward(lo, hi, start, end, idx, val, wt, bias, out)


@njit(cache=True)
def forward_rows_serial(x, start, seed, cut, scale, dropout, idx, val, end, wt, bias, out, chunks):
    """:func:`forward_rows` on the calling thread."""
    _gather(0, out.shape[0], x, start, seed, cut, scale, dropout, idx, val, end)
    _forward(0, out.shape[0], start, end, idx, val, wt, bias, out)


@njit(cache=True)
def scatter_rows(start, end, idx, val, out):
    """``out[r, idx[k]] = val[k]`` for the entries of every row (``out`` zero on entry)."""
    for r in range(start.shape[0]):
        row = out[r]
        for k in range(start[r], end[r]):
            row[idx[k]] = val[k]


@njit(cache=True)
def to_columns(start, end, idx, val, colptr, rows, cval):
    """Regroup the row-wise entries by column (a counting sort; rows stay in order).

    ``colptr`` ``(I + 1,)`` receives the column offsets, ``rows`` and ``cval`` the row
    index and value of each entry, column after column.
    """
    width = colptr.shape[0] - 1
    colptr[:] = 0
    for r in range(start.shape[0]):
        for k in range(start[r], end[r]):
            colptr[idx[k] + 1] += 1
    for i in range(width):
        colptr[i + 1] += colptr[i]
    fill = colptr[:-1].copy()
    for r in range(start.shape[0]):
        for k in range(start[r], end[r]):
            i = idx[k]
            rows[fill[i]] = r
            cval[fill[i]] = val[k]
            fill[i] += 1


@njit(cache=True, fastmath=True)
def _weight_grad(lo, hi, colptr, rows, cval, g, out):
    width = g.shape[1]
    for i in range(lo, hi):
        acc = out[i]
        acc[:] = 0
        k, k1 = colptr[i], colptr[i + 1]
        while k + 4 <= k1:
            g1, g2, g3, g4 = g[rows[k]], g[rows[k + 1]], g[rows[k + 2]], g[rows[k + 3]]
            v1, v2, v3, v4 = cval[k], cval[k + 1], cval[k + 2], cval[k + 3]
            for j in range(width):
                acc[j] += (v1 * g1[j] + v2 * g2[j]) + (v3 * g3[j] + v4 * g4[j])
            k += 4
        while k < k1:
            g1, v1 = g[rows[k]], cval[k]
            for j in range(width):
                acc[j] += v1 * g1[j]
            k += 1


@njit(cache=True, parallel=True)
def weight_grad_columns(colptr, rows, cval, g, out, chunks):
    """``out[i] = sum_k cval[k] g[rows[k]]`` over the entries of column ``i``: ``(I, O)``."""
    for ci in prange(chunks):
        lo, hi = _chunk(ci, chunks, out.shape[0])
        _weight_grad(lo, hi, colptr, rows, cval, g, out)


@njit(cache=True)
def weight_grad_columns_serial(colptr, rows, cval, g, out, chunks):
    """:func:`weight_grad_columns` on the calling thread."""
    _weight_grad(0, out.shape[0], colptr, rows, cval, g, out)


@njit(cache=True)
def support_count(u, threshold, surrogate, one, step):
    """Entries of every ``step``-th row of ``u`` ``(R, I)`` with a non-zero surrogate
    derivative of ``u - threshold`` (an estimate of their share, for the dense fallback)."""
    c = 0
    active = np.empty(u.shape[1], dtype=np.int64)
    for r in range(0, u.shape[0], step):
        c += _support_of_row(u[r], threshold, surrogate, one, active)
    return c


@njit(cache=True)
def _support_of_row(ur, threshold, surrogate, one, active):
    """Columns of the row ``ur`` with a non-zero surrogate derivative into ``active``; their
    number. Branch-free, with the tests of :func:`.cpu_kernels._surrogate` written out (no
    fastmath here: the same comparisons as the scan's backward pass)."""
    n = 0
    if surrogate == BOXCAR:
        for i in range(ur.shape[0]):
            z = ur[i] - threshold
            active[n] = i
            n += (z > -0.5) & (z <= 0.5)
    elif surrogate == TRIANGLE:
        for i in range(ur.shape[0]):
            active[n] = i
            n += (one - abs(ur[i] - threshold)) > 0
    else:  # every entry (fast_sigmoid is positive everywhere)
        for i in range(ur.shape[0]):
            active[i] = i
        n = ur.shape[0]
    return n


@njit(cache=True, fastmath=True)
def _input_grad(lo, hi, u, threshold, surrogate, one, seed, cut, scale, dropout, g, wt, out):
    width = u.shape[1]
    zero = one - one
    m = scale if dropout else one
    active = np.empty(width, dtype=np.int64)
    for r in range(lo, hi):
        row, gr = out[r], g[r]
        row[:] = zero
        n = _support_of_row(u[r], threshold, surrogate, one, active)
        if dropout:  # keep the entries that the mask keeps
            kept = 0
            for q in range(n):
                i = active[q]
                if keep(seed, r * width + i, cut):
                    active[kept] = i
                    kept += 1
            n = kept
        q = 0
        while q + 2 <= n:  # two rows of W^T per pass over g_r
            i1, i2 = active[q], active[q + 1]
            w1, w2 = wt[i1], wt[i2]
            s1, s2 = zero, zero
            for j in range(gr.shape[0]):
                s1 += gr[j] * w1[j]
                s2 += gr[j] * w2[j]
            row[i1] = m * s1
            row[i2] = m * s2
            q += 2
        if q < n:
            i1 = active[q]
            w1 = wt[i1]
            s1 = zero
            for j in range(gr.shape[0]):
                s1 += gr[j] * w1[j]
            row[i1] = m * s1


@njit(cache=True, parallel=True)
def input_grad_support(u, threshold, surrogate, one, seed, cut, scale, dropout, g, wt, out, chunks):
    """``out[r, i] = m[r, i] (g[r] . wt[i])`` where the surrogate derivative of
    ``u[r, i] - threshold`` is non-zero, 0 elsewhere: ``(R, I)`` (``m``: the dropout mask
    with ``dropout``, else 1)."""
    for ci in prange(chunks):
        lo, hi = _chunk(ci, chunks, out.shape[0])
        _input_grad(lo, hi, u, threshold, surrogate, one, seed, cut, scale, dropout, g, wt, out)


@njit(cache=True)
def input_grad_support_serial(u, threshold, surrogate, one, seed, cut, scale, dropout, g, wt, out,
                              chunks):
    """:func:`input_grad_support` on the calling thread."""
    _input_grad(0, out.shape[0], u, threshold, surrogate, one, seed, cut, scale, dropout, g, wt,
                out)


@njit(cache=True)
def _mask(lo, hi, a, seed, cut, scale):
    width = a.shape[1]
    zero = scale - scale
    for r in range(lo, hi):
        row = a[r]
        base = r * width
        for i in range(width):
            row[i] = row[i] * scale if keep(seed, base + i, cut) else zero


@njit(cache=True, parallel=True)
def apply_mask(a, seed, cut, scale, chunks):
    """Multiply ``a`` ``(R, I)`` in place by the dropout mask (``scale`` or 0 per entry)."""
    for ci in prange(chunks):
        lo, hi = _chunk(ci, chunks, a.shape[0])
        _mask(lo, hi, a, seed, cut, scale)


@njit(cache=True)
def apply_mask_serial(a, seed, cut, scale, chunks):
    """:func:`apply_mask` on the calling thread."""
    _mask(0, a.shape[0], a, seed, cut, scale)
