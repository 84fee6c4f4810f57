r"""CPU back-end: the neuron scans as an ``autograd.Function`` with hand-written BPTT.

The reference loop (:mod:`sparse.neurons.functional`) builds an autograd graph of
about ten nodes per time step; on a CPU the Python and dispatcher overhead of that
graph, not the arithmetic, is the cost. Here the forward loop records no graph and the
backward pass runs the adjoint recursion by hand (:mod:`.gradients`).

Two implementations of both loops share that contract; this module picks one per call:

* compiled (:mod:`.cpu_compiled` around the Numba kernels of :mod:`.cpu_kernels`; used
  for float32/float64 CPU tensors with a scalar threshold when Numba is installed, see
  :data:`USE_COMPILED`): about 3-5x faster than the eager loop;
* eager (:mod:`.cpu_eager`): PyTorch operations on per-step views, for every other case
  (CUDA tensors without Triton, half precision, per-neuron thresholds).

Saved for backward: the membrane (and, for adaptive layers, the adaptation) trace and
the spikes as ``uint8``. Layers whose ``a``, ``b`` and initial ``w`` are all zero
(plain LIF) skip the adaptation variable in the forward pass.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

import torch
from torch import Tensor

from ..state import AdLIFParameters, AdLIFState, ScanResult
from . import cpu_compiled, cpu_eager
from .common import check_args, common_dtype, initial, is_adaptive, loop_threads
from .gradients import finish_grads, prev_spikes, with_final

# finish_grads, loop_threads, prev_spikes and with_final lived here before the split into
# .common/.gradients and stay importable from this module.
__all__ = ["USE_COMPILED", "adlif_scan_cpu", "available", "compiled_kernels", "finish_grads",
           "loop_threads", "prev_spikes", "spike_support", "with_final"]

#: Use the compiled loops of :mod:`.cpu_kernels` for CPU tensors when Numba is installed.
#: ``False`` forces the eager loop (which also serves CUDA tensors when Triton is absent).
USE_COMPILED: bool = importlib.util.find_spec("numba") is not None


def available(device: torch.device) -> bool:
    """The CPU back-end runs plain tensor operations, hence on every device."""
    return True


def compiled_kernels(x: Tensor, threshold: float | Tensor) -> ModuleType | None:
    """:mod:`.cpu_kernels` when :data:`USE_COMPILED` and they apply to ``x``, else ``None``."""
    return cpu_compiled.kernels_for(x, threshold) if USE_COMPILED else None


def _run_forward(
    x: Tensor, alpha: Tensor, beta: Tensor, a: Tensor, b: Tensor, recurrent: Tensor | None,
    u0: Tensor | None, w0: Tensor | None, s0: Tensor | None, threshold: float | Tensor,
    variant: str, adaptive: bool,
) -> tuple[Tensor, Tensor | None, Tensor]:
    """Traces ``U, W, S`` ``(B, T, N)`` (``W`` None when the layer is not adaptive)."""
    U, S = torch.empty_like(x), torch.empty_like(x)
    W = torch.empty_like(x) if adaptive else None
    args = (x, alpha, beta, a, b, recurrent, u0, w0, s0, threshold, variant, U, W, S)
    kernels = compiled_kernels(x, threshold)
    if kernels is not None:
        cpu_compiled.forward(kernels, *args)
    else:
        cpu_eager.forward(*args)
    return U, W, S


class _AdLIFScan(torch.autograd.Function):
    """Forward loop without graph; backward by the adjoint recursion (:mod:`.gradients`)."""

    @staticmethod
    def forward(ctx, x, alpha, beta, a, b, recurrent, u0, w0, s0,  # noqa: D102
                threshold, variant, surrogate, adaptive, traces):
        u0, w0, s0 = (initial(x, v) for v in (u0, w0, s0))
        U, W, S = _run_forward(x, alpha, beta, a, b, recurrent, u0, w0, s0, threshold,
                               variant, adaptive)
        ctx.set_materialize_grads(False)
        ctx.threshold, ctx.variant, ctx.surrogate = threshold, variant, surrogate
        ctx.save_for_backward(x if variant == "sparch" else None, alpha, beta, a, b, recurrent,
                              U, W, S.to(torch.uint8), u0, w0, s0)
        w_last = W[:, -1].clone() if W is not None else torch.zeros_like(u0)
        if traces:
            w_tr = W if W is not None else torch.zeros_like(U)
            return S, U[:, -1].clone(), w_last, S[:, -1].clone(), U, w_tr
        empty = x.new_empty(0)
        ctx.mark_non_differentiable(empty)
        return S, U[:, -1].clone(), w_last, S[:, -1].clone(), empty, empty

    @staticmethod
    def backward(ctx, g_spikes, g_u, g_w, g_s, g_utr, g_wtr):  # noqa: D102
        x, alpha, beta, a, b, recurrent, U, W, s_bool, u0, w0, s0 = ctx.saved_tensors

        def nonempty(g: Tensor | None) -> Tensor | None:
            return None if g is None or g.numel() == 0 else g

        args = (ctx.variant, ctx.needs_input_grad[:9], x, alpha, beta, a, b, recurrent, U, W,
                s_bool, (u0, w0, s0), ctx.threshold, ctx.surrogate, g_spikes, nonempty(g_utr),
                nonempty(g_wtr), (g_u, g_w, g_s))
        kernels = compiled_kernels(U, ctx.threshold)
        if kernels is not None:
            grads = cpu_compiled.backward(kernels, *args)
        else:
            grads = cpu_eager.backward(*args)
        return (*grads, None, None, None, None, None)


#: Position of the membrane trace ``U`` among the tensors :class:`_AdLIFScan` saves.
_SAVED_U = 6


def spike_support(spikes: Tensor) -> tuple[Tensor, float | Tensor, str] | None:
    """``(U, threshold, surrogate)`` of the scan whose spike output is ``spikes``, else None.

    ``U`` ``(B, T, N)`` is the membrane trace that scan saved for its backward pass, which
    multiplies the incoming gradient of the spikes by ``surrogate'(U - threshold)``: a
    consumer of the spikes may leave its input gradient out wherever that factor is zero
    (:mod:`.spike_linear`). ``None`` unless ``spikes`` is output 0 of this back-end's
    autograd node and its saved tensors are still there.
    """
    node = spikes.grad_fn
    if type(node) is not _AdLIFScan._backward_cls or spikes.output_nr != 0:
        return None
    try:
        saved = node.saved_tensors
    except RuntimeError:  # freed by an earlier backward pass
        return None
    return saved[_SAVED_U], node.threshold, node.surrogate


def adlif_scan_cpu(
    x: Tensor,
    p: AdLIFParameters,
    recurrent: Tensor | None = None,
    state: AdLIFState | None = None,
    *,
    variant: str = "sparse",
    surrogate: str = "boxcar",
    return_traces: bool = False,
) -> ScanResult:
    """Adaptive LIF scan with a hand-written backward; same contract as ``functional.adlif_scan``.

    Parameters
    ----------
    x : Tensor
        ``(B, T, N)`` input currents.
    p : AdLIFParameters
        ``alpha, beta, a, b`` each ``(N,)`` (or broadcastable to it), float ``threshold``
        (which receives no gradient).
    recurrent : Tensor, optional
        ``(N, N)`` recurrent matrix, ``nn.Linear`` convention.
    state : AdLIFState, optional
        Initial ``(u, w, s)``, each ``(B, N)``; zeros when omitted.
    variant, surrogate, return_traces
        As in :func:`sparse.neurons.functional.adlif_scan`.

    Returns
    -------
    ScanResult
        ``spikes`` ``(B, T, N)``, final state, and ``u, w`` ``(B, T, N)`` on request.

    Examples
    --------
    >>> n = 3
    >>> p = AdLIFParameters(torch.full((n,), 0.9), torch.full((n,), 0.95),
    ...                     torch.zeros(n), torch.zeros(n), 1.0)
    >>> adlif_scan_cpu(torch.ones(2, 5, n) * 0.6, p).spikes[0, :, 0].tolist()
    [0.0, 1.0, 0.0, 1.0, 0.0]
    """
    check_args(x, variant, surrogate)
    x, p, recurrent, state = common_dtype(x, p, recurrent, state)
    batch, steps, n = x.shape
    if steps == 0:
        z = x.new_zeros(batch, n)
        st = state if state is not None else AdLIFState(z, z, z)
        empty = x.new_zeros(batch, 0, n)
        return ScanResult(empty, st, empty if return_traces else None,
                          empty if return_traces else None)
    u0, w0, s0 = (None, None, None) if state is None else state
    adaptive = is_adaptive(p, state)
    args = (x, p.alpha, p.beta, p.a, p.b, recurrent, u0, w0, s0)
    threshold = p.threshold
    if torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in args):
        spikes, u, w, s, u_tr, w_tr = _AdLIFScan.apply(
            *args, threshold, variant, surrogate, adaptive, return_traces)
        traces = (u_tr, w_tr) if return_traces else (None, None)
        return ScanResult(spikes, AdLIFState(u, w, s), *traces)
    U, W, S = _run_forward(*args, threshold, variant, adaptive)
    w_last = W[:, -1] if W is not None else torch.zeros_like(U[:, -1])
    traces = (None, None)
    if return_traces:
        traces = (U, W if W is not None else torch.zeros_like(U))
    return ScanResult(S, AdLIFState(U[:, -1], w_last, S[:, -1]), *traces)
