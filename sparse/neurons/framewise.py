r"""Per-frame products whose result for a frame does not depend on the other frames of the call.

A layer applies its feed-forward weights to every step at once, ``(B, T, I) -> (B, T, O)``.
A BLAS matrix product (MKL, OpenBLAS, cuBLAS) chooses its blocking and its threads from the
shape of the whole call, so the same frame summed in another call (10 frames instead of 1000,
or one thread instead of two) can differ in its last bits; measured here with MKL: rows of
a 1-row product differ from the same rows of a 3000-row one, and at two threads so do rows
of every size. A spike is the comparison of a membrane potential with a threshold, so one
ulp of input current can flip a spike and change everything after it. Streaming (a
recording fed in chunks, the state carried over) must give exactly the spikes of the
whole recording at once, whatever the chunks.

:func:`linear` computes ``y[r] = bias + sum_k x[r, k] W[:, k]`` with the terms of every output
added in the order of ``k``, from the bias, skipping ``x[r, k] = 0`` (a neuron that did not
spike costs nothing: the product is event-driven for spikes), one row after the other: a row's
result is a function of that row and the weights only, bit for bit, whatever the number of
rows or threads. It is used where no gradient is recorded (inference, streaming) on CPU
float32/float64 tensors; elsewhere (training, GPU) it is ``torch.nn.functional.linear``.
"""

from __future__ import annotations

import functools
import importlib.util
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

__all__ = ["linear", "exact_rows"]

#: From this many rows on, the weights are transposed once for the call and every row is
#: accumulated with vector instructions; below, each output is summed over the row's non-zero
#: inputs in place. Both add the same terms in the same order (bit-identical).
TRANSPOSE_ROWS = 16


@functools.cache
def _kernels() -> ModuleType | None:
    """The compiled row loops (Numba), or ``None`` without Numba."""
    if importlib.util.find_spec("numba") is None:
        return None
    from . import framewise_kernels

    return framewise_kernels


def exact_rows(*tensors: Tensor | None) -> bool:
    """Whether :func:`linear` computes row by row for these tensors (no gradient, CPU, float)."""
    present = [t for t in tensors if t is not None]
    if torch.is_grad_enabled() and any(t.requires_grad for t in present):
        return False
    dtype = present[0].dtype
    return (dtype in (torch.float32, torch.float64) and _kernels() is not None
            and all(t.device.type == "cpu" and t.dtype == dtype for t in present))


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` over the last axis, each row independent of the others.

    Parameters
    ----------
    x : Tensor
        ``(..., I)`` input (spikes or real values).
    weight : Tensor
        ``(O, I)`` (``nn.Linear`` convention).
    bias : Tensor, optional
        ``(O,)``.

    Returns
    -------
    Tensor
        ``(..., O)``.

    Examples
    --------
    >>> w, x = torch.randn(5, 7), (torch.rand(40, 7) > 0.7).float()
    >>> torch.equal(linear(x, w)[3:4], linear(x[3:4], w))
    True
    >>> torch.allclose(linear(x, w), x @ w.T, atol=1e-6)
    True
    """
    if not exact_rows(x, weight, bias):
        return torch.nn.functional.linear(x, weight, bias)
    kernels = _kernels()
    lead, width = x.shape[:-1], x.shape[-1]
    rows = x.detach().reshape(-1, width).contiguous().numpy()
    w = weight.detach().contiguous().numpy()
    out = np.empty((rows.shape[0], w.shape[0]), dtype=rows.dtype)
    b = np.zeros(w.shape[0], dtype=rows.dtype) if bias is None else bias.detach().numpy()
    if rows.shape[0] >= TRANSPOSE_ROWS:
        kernels.rows_transposed(rows, np.ascontiguousarray(w.T), b, out)
    else:
        kernels.rows_gathered(rows, w, b, out)
    return torch.from_numpy(out).reshape(*lead, w.shape[0])
