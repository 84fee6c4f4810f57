r"""Event-driven feed-forward products of spikes: the ``cpu`` back-end's ``feedforward``.

A spiking layer's input current is ``I = dropout(s) W^T + b`` with ``s`` ``(B, T, I)``
spikes, a few per cent of them non-zero. A dense product spends its time on the zeros;
here every product is taken over the entries that matter only (Perez-Nieves & Goodman,
"Sparse spiking gradient descent", NeurIPS 2021):

* forward ``s W^T``: per row, the sum of the rows of ``W^T`` of the active inputs;
* weight gradient ``g^T s``: per input, the sum of the output gradients ``g`` of the
  rows where it is active;
* input gradient ``g W``: the layer that produced ``s`` multiplies it by its surrogate
  derivative ``sigma'(u - theta)`` before using it, so for a compact surrogate
  (``boxcar``: ``|u - theta| <= 1/2``; ``triangle``: ``|u - theta| < 1``) only those
  entries are computed; the others are set to 0, which that layer's backward pass turns
  into the same zero it would have made of the dense value. Exact for every gradient the
  loss has with respect to parameters; only the gradient of ``s`` itself (a hook on the
  spikes) differs, on entries that cannot influence anything.

Where the restriction comes from. Nothing is added to the layers' interfaces: when ``s``
is the spike output of the ``cpu`` back-end's scan, its autograd node holds the membrane
trace, threshold and surrogate (:func:`.cpu.spike_support`); for any other input (a leaf,
the ``reference`` back-end, a non-compact surrogate such as ``fast_sigmoid``, spikes
already passed through another operation) the input gradient is the dense ``g W``.

Dropout is fused: with probability ``p`` an entry of ``s`` is dropped and the others are
scaled by ``1 / (1 - p)`` (inverted dropout, as :class:`torch.nn.Dropout`), but the mask
is a hash of the entry's position and one seed drawn from PyTorch's generator (see
:mod:`.spike_kernels`), so it is evaluated only at the active and the gradient-carrying
entries. Same distribution as ``nn.Dropout``, another draw: with dropout, results match the
dense path given the same mask (see :func:`dropout_mask`), not ``nn.Dropout``'s mask.

When a gradient is recorded, each product falls back to the dense BLAS product above a
density measured on this machine (:data:`DENSE_ABOVE`). Without one (inference) the forward
product always runs the row loops, so that each step's current is a function of that step's
input alone, bit for bit, whatever the other rows of the call or the threads (a stream fed
in chunks sums as the whole recording does). Without Numba (or for tensors the loops do not
take: CUDA, half precision) the whole operation is the dense reference
:func:`sparse.neurons.engine.dense_feedforward`. Inputs need not be binary (any values work;
zeros are skipped); sums are re-associated, so currents differ from BLAS by a few ulp.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..engine import dense_feedforward
from ..surrogate import SURROGATE_IDS
from . import cpu
from .cpu_compiled import compiled_threads

__all__ = ["COMPACT_SURROGATES", "DENSE_ABOVE", "EVENT_DRIVEN", "DenseAbove", "dropout_mask",
           "event_driven", "feedforward_cpu", "load_spike_kernels", "spike_gram"]

#: Use the event-driven products (``False``: the dense products of before, to compare).
EVENT_DRIVEN: bool = True


@dataclass(frozen=True)
class DenseAbove:
    """Densities above which each product is the dense BLAS product (event-driven below).

    ``forward`` and ``weight``: share of the entries of ``x`` that are non-zero (and kept by
    dropout); ``input``: share of the entries whose surrogate derivative is non-zero.
    """

    forward: float
    weight: float
    input: float


#: Where each event-driven product stopped being faster than BLAS on the development
#: machine (2-core AMD EPYC, AVX-512; B = 8, T = 300, 1184 or 512 inputs, 512 outputs;
#: one and two threads): ``python -m sparse.bench products`` shows the sweep.
DENSE_ABOVE = DenseAbove(forward=0.35, weight=0.25, input=0.35)

#: Surrogates whose derivative is zero outside a bounded interval (the input gradient can
#: be restricted to it); ``fast_sigmoid`` is positive everywhere.
COMPACT_SURROGATES = ("boxcar", "triangle")


@functools.cache
def load_spike_kernels() -> ModuleType | None:
    """Import :mod:`.spike_kernels` once; a broken Numba warns once and leaves dense products."""
    try:
        from . import spike_kernels
    except Exception as err:  # noqa: BLE001 - any failure of the optional fast path
        warnings.warn(f"compiled spike products unavailable ({type(err).__name__}: {err}); "
                      "using dense products", RuntimeWarning, stacklevel=4)
        return None
    return spike_kernels


def _kernels_for(x: Tensor, weight: Tensor, bias: Tensor | None) -> ModuleType | None:
    """:mod:`.spike_kernels` when they apply: enabled, CPU, float32/float64 throughout."""
    if not (EVENT_DRIVEN and cpu.USE_COMPILED):
        return None
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or x.dim() < 2:
        return None
    if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
        return None
    return load_spike_kernels()


@contextmanager
def event_driven(enabled: bool) -> Iterator[None]:
    """Set :data:`EVENT_DRIVEN` for the ``with`` block (benchmarks, comparisons)."""
    global EVENT_DRIVEN
    previous, EVENT_DRIVEN = EVENT_DRIVEN, bool(enabled)
    try:
        yield
    finally:
        EVENT_DRIVEN = previous


def _np(t: Tensor) -> np.ndarray:
    """A NumPy view of a contiguous CPU tensor (no copy when already contiguous)."""
    return t.detach().contiguous().numpy()


class _Mask:
    """The dropout of one call: probability ``p`` (0: none), hash ``seed``, ``cut``, ``scale``."""

    def __init__(self, p: float, seed: int, dtype: torch.dtype) -> None:
        self.p, self.on = p, p > 0.0
        self.seed = np.uint64(seed)
        self.cut = np.uint64(min(int(p * 2.0**53), 2**53))
        # the scale as nn.Dropout computes it: 1 / (1 - p) in the data type
        one = torch.tensor(1.0, dtype=dtype)
        self.scale = (one.div(1.0 - p) if p < 1.0 else one * 0).numpy()[()]

    def args(self) -> tuple:
        """``seed, cut, scale, on`` as the kernels take them."""
        return self.seed, self.cut, self.scale, self.on


def dropout_mask(shape: tuple[int, ...], p: float, seed: int,
                 dtype: torch.dtype = torch.float32) -> Tensor:
    """The mask (``0`` or ``1 / (1 - p)`` per entry) that :func:`feedforward_cpu` applies with
    ``seed``, as a dense tensor of ``shape`` (for checks; the operation never builds it)."""
    kernels = load_spike_kernels()
    if kernels is None:
        raise RuntimeError("dropout_mask needs the compiled spike products (Numba)")
    mask = _Mask(p, seed, dtype)
    out = torch.ones(shape, dtype=dtype)
    kernels.apply_mask_serial(out.view(-1, shape[-1]).numpy(), *mask.args()[:3], 1)
    return out


def _rows(counts: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, ...]:
    """``start`` (offsets of ``counts`` entries per row) and empty ``idx, val, end``: the
    row-wise lists that :func:`.spike_kernels.gather_rows` fills."""
    start = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    total = int(start[-1])
    return (start[:-1], np.empty(total, dtype=np.int32), np.empty(total, dtype=dtype),
            np.empty(len(counts), dtype=np.int64))


def _kept(rows: tuple[np.ndarray, ...]) -> int:
    """Number of entries of the row-wise lists."""
    start, _, _, end = rows
    return int((end - start).sum())


def _dense_from_rows(k: ModuleType, rows: tuple[np.ndarray, ...], like: Tensor) -> Tensor:
    """The ``(R, I)`` matrix of the listed entries (``m * x``), zeros elsewhere."""
    start, idx, val, end = rows
    out = torch.zeros_like(like)
    k.scatter_rows(start, end, idx, val, out.numpy())
    return out


def _support(x: Tensor) -> tuple[Tensor, float, str] | None:
    """Membrane trace, threshold and surrogate of the scan that produced ``x``, when the input
    gradient may be restricted to its surrogate's support (see the module docstring)."""
    found = cpu.spike_support(x)
    if found is None:
        return None
    u, threshold, surrogate = found
    if surrogate not in COMPACT_SURROGATES or u.shape != x.shape or u.dtype != x.dtype:
        return None
    if isinstance(threshold, Tensor):
        if threshold.numel() != 1:
            return None
        threshold = float(threshold)
    return u.detach(), threshold, surrogate


class _SpikeLinear(torch.autograd.Function):
    """``dropout(x) W^T + b`` over the active entries (module docstring); ``x`` ``(R, I)``."""

    @staticmethod
    def forward(ctx, x, weight, bias, mask, support, k, exact_rows):  # noqa: D102
        rows, width = x.shape
        x2 = _np(x)
        wt = weight.detach().T.contiguous()
        b = None if bias is None else bias.detach()
        counts = np.empty(rows, dtype=np.int64)
        active = k.count_rows(x2, counts) * (1.0 - mask.p)
        sparse_rows = xe = None
        with compiled_threads(rows) as threads:
            if rows == 0 or (not exact_rows and active > DENSE_ABOVE.forward * x.numel()):
                xe = _masked(k, x.detach(), mask, threads)
                out = torch.nn.functional.linear(xe, weight.detach(), b)
            else:
                sparse_rows = _rows(counts, x2.dtype)
                start, idx, val, end = sparse_rows
                out = x.new_empty(rows, weight.shape[0])
                bias_ = np.zeros(weight.shape[0], x2.dtype) if b is None else _np(b)
                (k.forward_rows if threads > 1 else k.forward_rows_serial)(
                    x2, start, *mask.args(), idx, val, end, wt.numpy(), bias_, out.numpy(),
                    threads)
        ctx.set_materialize_grads(False)
        ctx.k, ctx.mask = k, mask
        ctx.support = None if support is None else support[1:]
        # the row lists as tensors too, so that saved-tensor hooks see (and count) them
        lists = [None] * 4 if sparse_rows is None else [torch.from_numpy(a) for a in sparse_rows]
        ctx.save_for_backward(weight, wt, xe, x if xe is None else None,
                              None if support is None else support[0], *lists)
        return out

    @staticmethod
    @once_differentiable  # NumPy loops: no graph of the backward pass (double backward raises)
    def backward(ctx, g):  # noqa: D102
        weight, wt, xe, x, u, *lists = ctx.saved_tensors
        k, mask = ctx.k, ctx.mask
        sparse_rows = None if lists[0] is None else tuple(t.numpy() for t in lists)
        if g is None:
            return (None,) * 7
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g = g.contiguous()
        gx = gw = None
        with compiled_threads(g.shape[0]) as threads:
            if need_w:
                if sparse_rows is not None and _kept(sparse_rows) <= DENSE_ABOVE.weight * x.numel():
                    gw = _weight_grad(k, sparse_rows, g, weight.shape[1], threads)
                else:
                    gw = g.T @ (xe if xe is not None else _dense_from_rows(k, sparse_rows, x))
            if need_x:
                if ctx.support is not None:
                    gx = _restricted_input_grad(k, u, *ctx.support, mask, g, wt, threads)
                if gx is None:
                    gx = _masked(k, g @ weight, mask, threads)
        return gx, gw, g.sum(0) if need_b else None, None, None, None, None


def _masked(k: ModuleType, a: Tensor, mask: _Mask, threads: int) -> Tensor:
    """``a`` ``(R, I)`` times the dropout mask (a new tensor; ``a`` itself without dropout)."""
    if not mask.on:
        return a
    a = a.contiguous().clone()
    (k.apply_mask if threads > 1 else k.apply_mask_serial)(a.numpy(), *mask.args()[:3], threads)
    return a


def _weight_grad(k: ModuleType, rows: tuple[np.ndarray, ...], g: Tensor, width: int,
                 threads: int) -> Tensor:
    """``g^T (m x)`` ``(O, I)`` over the listed entries of ``m x``, regrouped by input."""
    start, idx, val, end = rows
    total = len(idx)
    colptr = np.empty(width + 1, dtype=np.int64)
    rows_of = np.empty(total, dtype=np.int32)
    cval = np.empty(total, dtype=val.dtype)
    k.to_columns(start, end, idx, val, colptr, rows_of, cval)
    gwt = g.new_empty(width, g.shape[1])
    (k.weight_grad_columns if threads > 1 else k.weight_grad_columns_serial)(
        colptr, rows_of, cval, g.numpy(), gwt.numpy(), threads)
    return gwt.T


def _restricted_input_grad(k: ModuleType, u: Tensor, threshold: float, surrogate: str,
                           mask: _Mask, g: Tensor, wt: Tensor, threads: int) -> Tensor | None:
    """``m (g W)`` on the entries with a non-zero surrogate derivative, 0 elsewhere; ``None``
    when they are more than ``DENSE_ABOVE.input`` of all (the dense product is faster)."""
    u2 = _np(u.reshape(g.shape[0], -1))
    rows, width = u2.shape
    dt = u2.dtype.type
    consts = (dt(threshold), SURROGATE_IDS[surrogate], dt(1.0))
    step = max(1, rows // 256)  # an estimate from about 256 rows is enough to choose
    sampled = len(range(0, rows, step)) * width
    if k.support_count(u2, *consts, step) * (1.0 - mask.p) > DENSE_ABOVE.input * sampled:
        return None
    out = g.new_empty(rows, width)
    (k.input_grad_support if threads > 1 else k.input_grad_support_serial)(
        u2, *consts, *mask.args(), g.numpy(), wt.numpy(), out.numpy(), threads)
    return out


def feedforward_cpu(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                    dropout: float = 0.0, training: bool = False) -> Tensor:
    """``dropout(x) @ weight.T + bias`` computed over the non-zero entries of ``x``.

    Parameters
    ----------
    x : Tensor
        ``(..., I)`` input, typically spikes ``(B, T, I)`` (any values; zeros are skipped).
    weight : Tensor
        ``(O, I)`` weight (``nn.Linear`` convention, masks already applied).
    bias : Tensor, optional
        ``(O,)``.
    dropout : float
        Probability of dropping an entry of ``x`` when ``training`` (inverted dropout).
    training : bool
        Whether dropout is applied.

    Returns
    -------
    Tensor
        ``(..., O)`` currents.

    Examples
    --------
    >>> x = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]])
    >>> w = torch.tensor([[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]])
    >>> feedforward_cpu(x, w, torch.tensor([0.5, 0.25])).tolist()
    [[[2.5, 16.25], [5.5, 40.25]]]
    """
    k = _kernels_for(x, weight, bias)
    p = float(dropout) if training else 0.0
    if k is None or p >= 1.0:
        return dense_feedforward(x, weight, bias, dropout, training)
    mask = _Mask(p, int(torch.randint(0, 2**62, (1,))) if p > 0 else 0, x.dtype)
    grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias))
    support = _support(x) if grad and x.requires_grad else None
    # without a gradient to record (inference), always the row loops: each row's current is
    # then a function of that row alone, bit for bit, whatever the rows of the call (streaming)
    out = _SpikeLinear.apply(x.reshape(-1, x.shape[-1]), weight, bias, mask, support, k, not grad)
    return out.view(*x.shape[:-1], weight.shape[0])


def spike_gram(a: Tensor, s: Tensor) -> Tensor:
    """``a.T @ s`` ``(A, S)`` for ``a`` ``(R, A)`` and spikes ``s`` ``(R, S)``, summed over the
    non-zero entries of ``s`` (dense above ``DENSE_ABOVE.weight``, or without the loops).

    The gradient of a recurrent matrix is one (``a`` the membrane adjoints, ``s`` the
    previous spikes).
    """
    k = _kernels_for(s, a, None)
    if k is None or s.dim() != 2 or a.dim() != 2:
        return a.T @ s
    s2 = _np(s)
    counts = np.empty(s.shape[0], dtype=np.int64)
    if k.count_rows(s2, counts) > DENSE_ABOVE.weight * s.numel():
        return a.T @ s
    rows = _rows(counts, s2.dtype)
    start, idx, val, end = rows
    with compiled_threads(s.shape[0]) as threads:
        (k.gather_rows if threads > 1 else k.gather_rows_serial)(
            s2, start, *_Mask(0.0, 0, s.dtype).args(), idx, val, end, threads)
        return _weight_grad(k, rows, a.detach().contiguous(), s.shape[1], threads)
