"""Plumbing of the compiled (Numba) loops of the ``cpu`` back-end (:mod:`.cpu_kernels`).

Loading the kernels once (or warning once and leaving the eager loop in charge when
Numba is broken), the thread plan of each call, the fork guard of GNU OpenMP, and the
conversion of tensors to the NumPy arrays the kernels take. The kernels themselves run
one loop per batch row over the whole sequence, take the recurrent products over the
spiking neurons only and run batch rows on parallel threads; they are about 3-5x faster
than the eager loop (:mod:`.cpu_eager`).

Threads: ``min(torch.get_num_threads(), batch, NUMBA_NUM_THREADS)`` per call
(:func:`planned_threads`). A plan of one thread calls the serial kernels, which never
start Numba's threading layer: no worker threads, no OpenMP in the process on Numba's
account, and a forked child keeps the compiled loops. With more, Numba's "omp" layer
runs the loops on PyTorch's own GNU OpenMP pool (the same ``libgomp``: one set of
workers serves both), whose idle threads wait as libgomp's ``OMP_WAIT_POLICY`` /
``GOMP_SPINCOUNT`` say (read when torch is imported). Results do not depend on the plan
(per-row gradient sums), so neither on ``NUMBA_NUM_THREADS``.

Layers without recurrence are bit-identical to the reference; with recurrence, the
recurrent current is summed in another order (a few ulp).
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from ..surrogate import FAST_SIGMOID_SLOPE, SURROGATE_IDS
from .common import initial
from .gradients import PARTIAL_SUMS, finish_grads, with_final

__all__ = ["backward", "compiled_threads", "forward", "kernels_for", "load_kernels",
           "planned_threads"]

logger = logging.getLogger(__name__)

#: Process in which this module started Numba's threading layer (``None``: not yet).
_LAUNCH_PID: int | None = None


def kernels_for(x: Tensor, threshold: float | Tensor) -> ModuleType | None:
    """:mod:`.cpu_kernels` when they apply to ``x``: CPU, float32/float64, scalar threshold."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return None
    if isinstance(threshold, Tensor) and threshold.numel() != 1:
        return None
    return load_kernels()


def _forked_after_launch() -> bool:
    """Whether this is a child forked after its parent ran the loops on GNU OpenMP threads.

    GNU OpenMP, Numba's "omp" threading layer where it is installed, is not fork-safe:
    Numba ends such a child with SIGTERM as soon as it starts a parallel loop. The child
    runs the serial kernels instead (same results).
    """
    if _LAUNCH_PID is None or _LAUNCH_PID == os.getpid():
        return False
    import numba

    return numba.threading_layer() == "omp"


@functools.cache
def _warn_forked() -> None:
    warnings.warn("sparse: this process was forked after the compiled CPU neuron loops ran "
                  "on GNU OpenMP threads, which do not survive a fork; running them on one "
                  "thread (start worker processes with 'spawn' to keep their threads)",
                  RuntimeWarning, stacklevel=6)


@functools.cache
def load_kernels() -> ModuleType | None:
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
                      "using the eager loop", RuntimeWarning, stacklevel=4)
        return None
    return cpu_kernels


def planned_threads(batch: int) -> int:
    """Threads of the compiled loops for ``batch`` rows: ``min(torch threads, batch,
    NUMBA_NUM_THREADS)``, or 1 in a child forked after GNU OpenMP ran here (warned once).

    Reads Numba's configured maximum, which does not start its threading layer.
    """
    import numba

    threads = max(1, min(torch.get_num_threads(), batch, numba.config.NUMBA_NUM_THREADS))
    if threads > 1 and _forked_after_launch():
        _warn_forked()
        return 1
    return threads


@contextmanager
def compiled_threads(batch: int) -> Iterator[int]:
    """Run the block with :func:`planned_threads` Numba threads; yields that number.

    One thread: nothing to set, and the caller runs the serial kernels. More: the first
    such call starts Numba's threading layer, keeping PyTorch's thread count
    (:func:`_start_numba_threads`), and the thread count is set for the block only.

    The compiled loops split the batch into chunks of rows, one per thread when a recurrent
    matrix is shared. They hold the GIL (no ``nogil``), so calls from several Python threads
    run one after the other, which Numba's "workqueue" threading layer (used where neither
    TBB nor OpenMP is installed) requires.
    """
    threads = planned_threads(batch)
    if threads == 1:
        yield 1
        return
    import numba

    global _LAUNCH_PID
    if _LAUNCH_PID is None:
        _start_numba_threads()
        _LAUNCH_PID = os.getpid()
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield threads
    finally:
        numba.set_num_threads(previous)


def _start_numba_threads() -> None:
    """Start Numba's threading layer without letting it change PyTorch's thread count.

    Numba's "omp" layer starts with ``omp_set_num_threads(NUMBA_NUM_THREADS)`` (all cores
    by default), and the GNU OpenMP runtime it calls is PyTorch's own: torch loads its
    ``libgomp`` into the global symbol scope, where Numba's ``omppool`` finds it. A
    ``torch.set_num_threads(1)`` made before would silently become ``NUMBA_NUM_THREADS``
    intra-op threads for every later PyTorch operation of the calling thread (2-3x the CPU
    time on a loaded 2-core machine, and other rounding in PyTorch's parallel kernels).
    """
    import numba

    torch_threads = torch.get_num_threads()  # read first: PyTorch sets its count lazily
    numba.get_num_threads()  # starts the threading layer (once per process)
    if torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)


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


def forward(
    kernels: ModuleType, x: Tensor, alpha: Tensor, beta: Tensor, a: Tensor, b: Tensor,
    recurrent: Tensor | None, u0: Tensor | None, w0: Tensor | None, s0: Tensor | None,
    threshold: float | Tensor, variant: str, U: Tensor, W: Tensor | None, S: Tensor,
) -> None:
    """Fill the traces ``U, W, S`` ``(B, T, N)`` with :func:`.cpu_kernels.scan_forward`
    (or its serial twin for a plan of one thread)."""
    n = x.shape[-1]
    vt = x.new_empty(0, 0) if recurrent is None else recurrent.T
    with compiled_threads(x.shape[0]) as threads:
        chunks = _chunks(x.shape[0], threads, recurrent is not None)
        alpha_, oma, beta_, a_, b_, c = _per_neuron(n, alpha, beta, a, b)
        scan = kernels.scan_forward if threads > 1 else kernels.scan_forward_serial
        scan(
            _np(x), alpha_, oma, beta_, a_, b_, c, _np(vt),
            _np(initial(x, u0)), _np(initial(x, w0)), _np(initial(x, s0)),
            _scalar(threshold, x.dtype), variant == "sparse", W is not None,
            recurrent is not None, chunks, _np(U),
            _np(x.new_empty(0, 0, 0) if W is None else W),
            _np(S))


def backward(
    kernels: ModuleType, variant: str, needs: tuple[bool, ...], x: Tensor | None, alpha: Tensor,
    beta: Tensor, a: Tensor, b: Tensor, recurrent: Tensor | None, U: Tensor, W: Tensor | None,
    s_bool: Tensor, init: tuple[Tensor, Tensor, Tensor], threshold: float | Tensor,
    surrogate: str, gs: Tensor | None, gu: Tensor | None, gw: Tensor | None,
    final: tuple[Tensor | None, Tensor | None, Tensor | None],
) -> tuple[Tensor | None, ...]:
    """:func:`.cpu_eager.backward` by the compiled adjoint loop (``scan_backward`` or its
    serial twin)."""
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
    consts = torch.tensor([0.0, 1.0, FAST_SIGMOID_SLOPE], dtype=U.dtype)  # zero, one, slope
    with compiled_threads(batch) as threads:
        chunks = _chunks(batch, threads, recurrent is not None)
        acc = U.new_zeros(batch, len(PARTIAL_SUMS), n)
        alpha_, oma, beta_, a_, _, c = _per_neuron(n, alpha, beta, a, b)
        scan = kernels.scan_backward if threads > 1 else kernels.scan_backward_serial
        scan(
            _np(none3 if x is None else x), _np(U), _np(none3 if W is None else W), _np(s_bool),
            _np(u0), _np(w0), _np(s0), alpha_, oma, beta_, a_, c,
            _np((beta * b if sparse else b).expand(n)), _np(vt),
            *(_np(none3 if g is None else g) for g in (gs, gu, gw)), _np(consts),
            _scalar(threshold, U.dtype), SURROGATE_IDS[surrogate], sparse, W is not None,
            recurrent is not None, gs is not None, gu is not None, gw is not None, chunks,
            _np(LU), _np(D), _np(acc), _np(l1w))
    from .spike_linear import spike_gram  # (imports this module)

    return finish_grads(variant, needs, alpha, beta, a, b, recurrent, acc, LU, D, s0, s_bool,
                        LU[:, 0], l1w, W is not None, spike_gram)
