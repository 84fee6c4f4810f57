r"""CPU back-end: the neuron scans as ``autograd.Function`` s with hand-written BPTT.

The reference loop (:mod:`sparse.neurons.functional`) builds an autograd graph of
about ten nodes per time step; on a CPU the Python and dispatcher overhead of that
graph, not the arithmetic, is the cost. Here the forward loop writes with ``out=``
operations into per-step views of preallocated ``(B, T, N)`` buffers (the outputs
themselves) and records no graph, and the backward pass runs the adjoint
recursion by hand:

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
operands are still in cache (cheaper on a CPU than streaming ``(B, T, N)`` tensors
again), and the recurrent matrix gradient is one GEMM of the stacked adjoints
with the stacked previous spikes (:func:`finish_grads`).

Two implementations of both loops share this contract:

* compiled (:mod:`.cpu_kernels`, Numba; used for float32/float64 CPU tensors with a
  scalar threshold when Numba is installed, see :data:`USE_COMPILED`): one loop per
  batch row over the whole sequence, recurrent products over the spiking neurons only,
  batch rows on parallel threads. About 3-5x faster than the eager loop;
* eager (below): PyTorch operations on per-step views, for every other case (CUDA
  tensors without Triton, half precision, per-neuron thresholds).

The eager forward pass performs exactly the floating-point operations of the
reference, in the same order, so spikes and membranes are bit-identical to it; the
compiled one too, except that recurrent currents are summed in another order (a few
ulp). Saved for backward: the membrane (and, for adaptive layers, the adaptation)
trace and the spikes as ``uint8``. Layers whose ``a``, ``b`` and initial ``w`` are all
zero (plain LIF) skip the adaptation variable in the forward pass.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from ..state import AdLIFParameters, AdLIFState, ScanResult
from ..surrogate import SURROGATES, surrogate_grad

#: Surrogate numbering of the compiled kernels (:mod:`.cpu_kernels` and the Triton kernels).
SURROGATE_IDS = {"boxcar": 0, "fast_sigmoid": 1, "triangle": 2}

__all__ = ["adlif_scan_cpu", "available", "finish_grads", "loop_threads", "prev_spikes",
           "with_final"]

logger = logging.getLogger(__name__)

VARIANTS = ("sparse", "sparch")

#: Intra-op threads inside the time loops on CPU (``None``: keep the global setting). Per-step
#: tensors are below PyTorch's parallel grain size except the ``(B, N) x (N, N)`` recurrent
#: product, which gains little from more threads at ``B = 8`` but stalls badly when the cores
#: are shared (3-25x slower with 2 threads on a loaded 2-core machine). Big operations outside
#: the loops keep the global thread count.
LOOP_THREADS: int | None = 1


@contextmanager
def loop_threads(device: torch.device) -> Iterator[None]:
    """Run the block with :data:`LOOP_THREADS` intra-op threads when on CPU."""
    previous = torch.get_num_threads()
    if device.type != "cpu" or LOOP_THREADS is None or LOOP_THREADS == previous:
        yield
        return
    torch.set_num_threads(LOOP_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


#: Use the compiled loops of :mod:`.cpu_kernels` for CPU tensors when Numba is installed.
#: ``False`` forces the eager loop (which also serves CUDA tensors when Triton is absent).
USE_COMPILED: bool = importlib.util.find_spec("numba") is not None


#: Process in which the compiled loops first ran (``None``: not yet).
_LAUNCH_PID: int | None = None


def compiled_kernels(x: Tensor, threshold: float | Tensor) -> ModuleType | None:
    """:mod:`.cpu_kernels` when it applies: CPU, float32/float64, scalar threshold, Numba."""
    if not USE_COMPILED or x.device.type != "cpu" or x.dtype not in (torch.float32,
                                                                      torch.float64):
        return None
    if isinstance(threshold, Tensor) and threshold.numel() != 1:
        return None
    if _forked_after_launch():
        return None
    return _load_kernels()


def _forked_after_launch() -> bool:
    """Whether this is a child forked after its parent ran the loops on GNU OpenMP threads.

    GNU OpenMP, Numba's "omp" threading layer where it is installed, is not fork-safe:
    Numba ends such a child with SIGTERM as soon as it starts a parallel loop. The child
    uses the eager loop instead (same results), with one warning.
    """
    if _LAUNCH_PID is None or _LAUNCH_PID == os.getpid():
        return False
    import numba

    if numba.threading_layer() != "omp":
        return False
    _warn_forked()
    return True


@functools.cache
def _warn_forked() -> None:
    warnings.warn("sparse: this process was forked after the compiled CPU neuron loops ran "
                  "on GNU OpenMP threads, which do not survive a fork; using the eager loop "
                  "(start worker processes with 'spawn' to keep the compiled loops)",
                  RuntimeWarning, stacklevel=4)


@functools.cache
def _load_kernels() -> ModuleType | None:
    """Import :mod:`.cpu_kernels` once (Numba's import takes about a second).

    A broken Numba installation, or no writable cache directory for the compiled
    code, must not stop training: warn once and use the eager loop.
    """
    logger.info("sparse: loading the compiled CPU neuron loops (Numba compiles them once, "
                "about 15 s per dtype, and caches them on disk)")
    numba_logger = logging.getLogger("numba")
    if numba_logger.level == logging.NOTSET:  # its compiler logs each pass at DEBUG: megabytes
        numba_logger.setLevel(logging.WARNING)  # in a recipe's log file (root logger at DEBUG)
    try:
        from . import cpu_kernels
    except Exception as err:  # noqa: BLE001 - any failure of the optional fast path
        warnings.warn(f"compiled CPU neuron loops unavailable ({type(err).__name__}: {err}); "
                      "using the eager loop", RuntimeWarning, stacklevel=3)
        return None
    return cpu_kernels


@contextmanager
def compiled_threads(batch: int) -> Iterator[int]:
    """Run the block with ``min(torch threads, batch)`` Numba threads; yields that number.

    The compiled loops split the batch into that many chunks of rows, one per thread. They
    hold the GIL (no ``nogil``), so calls from several Python threads run one after the
    other, which Numba's "workqueue" threading layer (used where neither TBB nor OpenMP is
    installed) requires.
    """
    import numba

    global _LAUNCH_PID
    if _LAUNCH_PID is None:
        _LAUNCH_PID = os.getpid()
    previous = numba.get_num_threads()
    threads = max(1, min(torch.get_num_threads(), batch, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(threads)
    try:
        yield threads
    finally:
        numba.set_num_threads(previous)


def _chunks(batch: int, threads: int, recurrent: bool) -> int:
    """Chunks of batch rows for the compiled loops: one per thread when a recurrent matrix
    is shared by the rows of a chunk, else one per row (its state then stays in L1)."""
    return threads if recurrent else batch


def _np(t: Tensor) -> np.ndarray:
    """A NumPy view of a contiguous CPU tensor (no copy when already contiguous)."""
    return t.detach().contiguous().numpy()


def _per_neuron(n: int, alpha: Tensor, beta: Tensor, a: Tensor,
                b: Tensor) -> tuple[np.ndarray, ...]:
    """``(alpha, 1 - alpha, beta, a, b, (1 - beta) a)`` as ``(N,)`` arrays for the kernels.

    The derived constants are computed in PyTorch, as the reference computes them.
    """
    return tuple(_np(v.expand(n)) for v in (alpha, 1.0 - alpha, beta, a, b, (1.0 - beta) * a))


def _scalar(value: float | Tensor, dtype: torch.dtype) -> np.floating:
    """A threshold as a NumPy scalar of the scan's dtype (the reference compares in that dtype)."""
    return (np.float32 if dtype == torch.float32 else np.float64)(float(value))


def available(device: torch.device) -> bool:
    """The CPU back-end runs plain tensor operations, hence on every device."""
    return True


# ----------------------------------------------------------------------------- forward


Steps = list  # per-step (B, N) views of a (B, T, N) buffer, index t = value at step t


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


def _initial(x: Tensor, value: Tensor | None) -> Tensor:
    """Initial state ``(B, N)``: ``value`` or zeros."""
    return x.new_zeros(x.shape[0], x.shape[2]) if value is None else value


def _steps(first: Tensor, buf: Tensor) -> Steps:
    """``[first, buf[:, 0], ..., buf[:, T-1]]``."""
    return [first, *buf.unbind(1)]


def _run_forward(
    x: Tensor, alpha: Tensor, beta: Tensor, a: Tensor, b: Tensor, recurrent: Tensor | None,
    u0: Tensor | None, w0: Tensor | None, s0: Tensor | None, threshold: float | Tensor,
    variant: str, adaptive: bool,
) -> tuple[Tensor, Tensor | None, Tensor]:
    """Traces ``U, W, S`` ``(B, T, N)`` (``W`` None when the layer is not adaptive)."""
    U, S = torch.empty_like(x), torch.empty_like(x)
    W = torch.empty_like(x) if adaptive else None
    kernels = compiled_kernels(x, threshold)
    if kernels is not None:
        n = x.shape[-1]
        vt = x.new_empty(0, 0) if recurrent is None else recurrent.T
        with compiled_threads(x.shape[0]) as threads:
            chunks = _chunks(x.shape[0], threads, recurrent is not None)
            alpha_, oma, beta_, a_, b_, c = _per_neuron(n, alpha, beta, a, b)
            kernels.scan_forward(
                _np(x), alpha_, oma, beta_, a_, b_, c, _np(vt),
                _np(_initial(x, u0)), _np(_initial(x, w0)), _np(_initial(x, s0)),
                _scalar(threshold, x.dtype), variant == "sparse", adaptive,
                recurrent is not None, chunks, _np(U),
                _np(x.new_empty(0, 0, 0) if W is None else W),
                _np(S))
        return U, W, S
    ws = None if W is None else _steps(_initial(x, w0), W)
    vt = None if recurrent is None else recurrent.T
    with loop_threads(x.device):
        _FORWARD[variant](x.unbind(1), alpha, beta, a, b, vt, _steps(_initial(x, u0), U), ws,
                          _steps(_initial(x, s0), S), threshold)
    return U, W, S


# ---------------------------------------------------------------------------- backward


def _backward(
    variant: str, needs: tuple[bool, ...], x: Tensor | None, alpha: Tensor, beta: Tensor,
    a: Tensor, b: Tensor, recurrent: Tensor | None, U: Tensor, W: Tensor | None,
    s_bool: Tensor, init: tuple[Tensor, Tensor, Tensor], threshold: float | Tensor,
    surrogate: str, gs: Tensor | None, gu: Tensor | None, gw: Tensor | None,
    final: tuple[Tensor | None, Tensor | None, Tensor | None],
) -> tuple[Tensor | None, ...]:
    """Adjoint recursion (module docstring) and all gradients, reductions accumulated per step.

    Parameters
    ----------
    needs : tuple of bool
        ``needs_input_grad`` of ``(x, alpha, beta, a, b, recurrent, u0, w0, s0)``.
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
    kernels = compiled_kernels(U, threshold)
    if kernels is not None:
        return _backward_compiled(kernels, variant, needs, x, alpha, beta, a, b, recurrent, U, W,
                                  s_bool, init, threshold, surrogate, gs, gu, gw, final)
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
    us = _steps(u0, U)
    ws = None if W is None else _steps(w0, W)
    sbs = [s0, *s_bool.unbind(1)]  # spikes entering step i: sbs[i]
    xs = None if x is None else x.unbind(1)
    gu_t, gw_t, gs_t = final
    gss = _per_step(gs, gs_t, steps)
    gus, gws = _per_step(gu, gu_t, steps), _per_step(gw, gw_t, steps)
    sg_fn = SURROGATES[surrogate]
    zero = U.new_zeros(batch, n)
    ls, xb, sp = (U.new_empty(batch, n) for _ in range(3))
    lw_bufs = (U.new_zeros(batch, n), U.new_zeros(batch, n))
    # Partial sums over time of the parameter-gradient products, each (B, N).
    acc = {k: U.new_zeros(batch, n) for k in ("lu_up", "lu_sp", "lu_w", "lu_x", "lw_u", "lw_sp",
                                                "lw_wp")}
    a_up, a_sp, a_w, a_x = acc["lu_up"], acc["lu_sp"], acc["lu_w"], acc["lu_x"]
    b_u, b_sp, b_wp = acc["lw_u"], acc["lw_sp"], acc["lw_wp"]
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
    sums = {k: v.sum(0) for k, v in acc.items()}
    s_prev = None
    if recurrent is not None and (needs[5] or (needs[1] and not sparse)):
        s_prev = prev_spikes(s0, s_bool)
    return finish_grads(variant, needs, alpha, beta, a, b, recurrent, sums, LU, D, s_prev,
                        lus[0], lwn, adaptive)


def _backward_compiled(
    kernels: ModuleType, variant: str, needs: tuple[bool, ...], x: Tensor | None, alpha: Tensor,
    beta: Tensor, a: Tensor, b: Tensor, recurrent: Tensor | None, U: Tensor, W: Tensor | None,
    s_bool: Tensor, init: tuple[Tensor, Tensor, Tensor], threshold: float | Tensor,
    surrogate: str, gs: Tensor | None, gu: Tensor | None, gw: Tensor | None,
    final: tuple[Tensor | None, Tensor | None, Tensor | None],
) -> tuple[Tensor | None, ...]:
    """:func:`_backward` with the compiled adjoint loop (:func:`.cpu_kernels.scan_backward`)."""
    batch, steps, n = U.shape
    sparse = variant == "sparse"
    u0, w0, s0 = init
    gu_t, gw_t, gs_t = final
    gs, gu, gw = (with_final(g, g_last, U) for g, g_last in ((gs, gs_t), (gu, gu_t), (gw, gw_t)))
    none3 = U.new_empty(0, 0, 0)
    LU = torch.empty_like(U)
    D = LU if sparse else torch.empty_like(U)
    l1w = U.new_empty(batch, n)
    vt = U.new_empty(0, 0) if recurrent is None else recurrent.T
    consts = torch.tensor([0.0, 1.0, 10.0], dtype=U.dtype)  # zero, one, fast-sigmoid slope
    with compiled_threads(batch) as threads:
        chunks = _chunks(batch, threads, recurrent is not None)
        acc = U.new_zeros(batch, len(kernels.ACC_KEYS), n)
        alpha_, oma, beta_, a_, _, c = _per_neuron(n, alpha, beta, a, b)
        kernels.scan_backward(
            _np(none3 if x is None else x), _np(U), _np(none3 if W is None else W), _np(s_bool),
            _np(u0), _np(w0), _np(s0), alpha_, oma, beta_, a_, c,
            _np((beta * b if sparse else b).expand(n)), _np(vt),
            *(_np(none3 if g is None else g) for g in (gs, gu, gw)), _np(consts),
            _scalar(threshold, U.dtype), SURROGATE_IDS[surrogate], sparse, W is not None,
            recurrent is not None, gs is not None, gu is not None, gw is not None, chunks,
            _np(LU), _np(D), _np(acc), _np(l1w))
    sums = dict(zip(kernels.ACC_KEYS, acc.sum(0).unbind(0), strict=True))
    s_prev = None
    if recurrent is not None and (needs[5] or (needs[1] and not sparse)):
        s_prev = prev_spikes(s0, s_bool)
    return finish_grads(variant, needs, alpha, beta, a, b, recurrent, sums, LU, D, s_prev,
                        LU[:, 0], l1w, W is not None)


def with_final(g: Tensor | None, g_last: Tensor | None, like: Tensor) -> Tensor | None:
    """An incoming ``(B, T, N)`` gradient with the final-state one ``(B, N)`` added at the end.

    Shared by the compiled ``cpu`` loops and the ``triton`` back-end, whose kernels take the
    gradient of the whole trace only.
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


def finish_grads(
    variant: str, needs: tuple[bool, ...], alpha: Tensor, beta: Tensor, a: Tensor, b: Tensor,
    recurrent: Tensor | None, sums: dict[str, Tensor], LU: Tensor, D: Tensor,
    s_prev: Tensor | None, l1: Tensor, l1w: Tensor, adaptive: bool,
) -> tuple[Tensor | None, ...]:
    """Gradients from the adjoints (shared by the ``cpu`` and ``triton`` back-ends).

    Parameters
    ----------
    sums : dict of Tensor
        ``(N,)`` sums over batch and time of ``lu*u_prev`` ("lu_up"), ``lu*s_prev``
        ("lu_sp"), ``lu*w`` ("lu_w", ``w_{t-1}`` SPARSE / ``w_t`` SpArch), ``lu*x`` ("lu_x",
        SpArch), ``lw*u`` ("lw_u", ``u_t`` SPARSE / ``u_{t-1}`` SpArch), ``lw*s_prev``
        ("lw_sp") and ``lw*w_prev`` ("lw_wp").
    LU, D : Tensor
        ``(B, T, N)`` adjoints of the membrane and of the input current.
    s_prev : Tensor or None
        ``(B*T, N)`` spikes entering each step (:func:`prev_spikes`), needed with recurrence.
    l1, l1w : Tensor
        ``(B, N)`` adjoints of ``u_1`` and ``w_1``.

    Returns
    -------
    tuple
        Gradients of ``(x, alpha, beta, a, b, recurrent, u0, w0, s0)`` or None where not needed.
    """
    n = LU.shape[-1]
    sparse = variant == "sparse"
    oma = 1.0 - alpha

    def shaped(g: Tensor, like: Tensor) -> Tensor:
        return g.expand(n).sum_to_size(like.shape)

    g_alpha = g_beta = g_a = g_b = g_v = None
    if needs[1]:
        # sparse: du/dalpha = u_{t-1} - s_{t-1} + w_{t-1};  sparch: u_{t-1} - s_{t-1} - drive_t
        g = sums["lu_up"] - sums["lu_sp"] + sums["lu_w"]
        if not sparse:
            g = g - sums["lu_x"]
            if recurrent is not None:  # sum_tb lu * (s_prev V^T) = rowsum(V * LU^T S_prev)
                g = g - (recurrent * (LU.reshape(-1, n).T @ s_prev)).sum(1)
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
        g_v = D.reshape(-1, n).T @ s_prev
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


def _per_step(g: Tensor | None, g_final: Tensor | None, steps: int) -> list[Tensor | None]:
    """Per-step views of an incoming ``(B, T, N)`` gradient, the final-state one added last."""
    out: list[Tensor | None] = [None] * steps if g is None else list(g.unbind(1))
    if g_final is not None:
        out[-1] = g_final if out[-1] is None else out[-1] + g_final
    return out


class _AdLIFScan(torch.autograd.Function):
    """Forward loop without graph; backward by the adjoint recursion (module docstring)."""

    @staticmethod
    def forward(ctx, x, alpha, beta, a, b, recurrent, u0, w0, s0,  # noqa: D102
                threshold, variant, surrogate, adaptive, traces):
        u0, w0, s0 = (_initial(x, v) for v in (u0, w0, s0))
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

        grads = _backward(
            ctx.variant, ctx.needs_input_grad[:9], x, alpha, beta, a, b, recurrent, U, W,
            s_bool, (u0, w0, s0), ctx.threshold, ctx.surrogate, g_spikes, nonempty(g_utr),
            nonempty(g_wtr), (g_u, g_w, g_s),
        )
        return (*grads, None, None, None, None, None)


def is_adaptive(p: AdLIFParameters, state: AdLIFState | None) -> bool:
    """Whether the adaptation variable can ever be non-zero (any ``a``, ``b`` or ``w_0`` != 0)."""
    nonzero = bool((p.a != 0).any()) or bool((p.b != 0).any())
    return nonzero or (state is not None and bool((state.w != 0).any()))


def check_args(x: Tensor, variant: str, surrogate: str) -> None:
    """Raise ``ValueError`` for a wrong input rank, variant or surrogate name."""
    if x.dim() != 3:
        raise ValueError(f"expected input of shape (batch, time, neurons), got {tuple(x.shape)}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown neuron variant {variant!r}; choose one of {sorted(VARIANTS)}")
    if surrogate not in SURROGATES:
        surrogate_grad(x.new_zeros(()), surrogate)  # raises the readable error


def common_dtype(
    x: Tensor, p: AdLIFParameters, recurrent: Tensor | None, state: AdLIFState | None
) -> tuple[Tensor, AdLIFParameters, Tensor | None, AdLIFState | None]:
    """Cast every tensor to the promoted floating dtype, as the reference's arithmetic would."""
    tensors = [x, p.alpha, p.beta, p.a, p.b] + ([recurrent] if recurrent is not None else [])
    tensors += list(state or ())
    dtype = x.dtype
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    if all(t.dtype == dtype for t in tensors):
        return x, p, recurrent, state
    p = AdLIFParameters(*(t.to(dtype) for t in p[:4]), p.threshold)
    return (x.to(dtype), p, None if recurrent is None else recurrent.to(dtype),
            None if state is None else AdLIFState(*(t.to(dtype) for t in state)))


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
