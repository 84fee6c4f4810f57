"""Compiled row loops of :func:`sparse.neurons.framewise.linear` (Numba, no fast-math).

Both loops compute ``out[r, j] = b[j] + x[r, k1] w[j, k1] + x[r, k2] w[j, k2] + ...`` over the
non-zero ``x[r, k]`` in increasing ``k``, one addition after the other (no re-association, no
fused multiply-add: Numba compiles without fast-math flags), so they give the same bits; they
differ in memory order only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["rows_gathered", "rows_transposed"]


@njit(cache=True)
def rows_transposed(x, wt, b, out):
    """``out (R, O)`` from ``x (R, I)``, ``wt (I, O)`` (the weights transposed), ``b (O,)``.

    Vectorised over the outputs: each non-zero input adds its row of ``wt`` to the row's sums.
    """
    rows, width = x.shape
    outputs = wt.shape[1]
    for r in range(rows):
        acc = out[r]
        for j in range(outputs):
            acc[j] = b[j]
        for k in range(width):
            v = x[r, k]
            if v == 0.0:
                continue
            if v == 1.0:  # a spike: the weight itself (v * w == w exactly)
                for j in range(outputs):
                    acc[j] += wt[k, j]
            else:
                for j in range(outputs):
                    acc[j] += v * wt[k, j]


@njit(cache=True)
def rows_gathered(x, w, b, out):
    """``out (R, O)`` from ``x (R, I)``, ``w (O, I)``, ``b (O,)``: no transposed copy of ``w``.

    For a few rows: each output sums the row's non-zero inputs times its own weights.
    """
    rows, width = x.shape
    outputs = w.shape[0]
    active = np.empty(width, dtype=np.int64)
    for r in range(rows):
        n = 0
        for k in range(width):
            if x[r, k] != 0.0:
                active[n] = k
                n += 1
        for j in range(outputs):
            s = b[j]
            for i in range(n):
                k = active[i]
                v = x[r, k]
                if v == 1.0:
                    s += w[j, k]
                else:
                    s += v * w[j, k]
            out[r, j] = s
