"""What the fast back-ends share at their entry points and in their eager time loops.

Argument checks, dtype promotion (as the reference's arithmetic would promote), the
test for a non-zero adaptation variable, initial states, per-step views of ``(B, T, N)``
buffers and the intra-op thread count inside eager time loops. Used by the ``cpu``
back-end (:mod:`.cpu`, :mod:`.cpu_eager`), the readout scan (:mod:`.leaky`) and the
``triton`` back-end (:mod:`.triton_ops`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from ..functional import STEPS
from ..state import AdLIFParameters, AdLIFState
from ..surrogate import SURROGATES, surrogate_grad

__all__ = ["LOOP_THREADS", "VARIANTS", "Steps", "check_args", "common_dtype", "initial",
           "is_adaptive", "loop_threads", "step_views"]

#: Neuron variants every back-end implements (the update equations of :mod:`..functional`).
VARIANTS = tuple(STEPS)

#: Intra-op threads inside the eager time loops on CPU (``None``: keep the global setting).
#: Per-step tensors are below PyTorch's parallel grain size except the ``(B, N) x (N, N)``
#: recurrent product, which gains little from more threads at ``B = 8`` but stalls badly when
#: the cores are shared (3-25x slower with 2 threads on a loaded 2-core machine). Big
#: operations outside the loops keep the global thread count.
LOOP_THREADS: int | None = 1

#: Per-step ``(B, N)`` views of a ``(B, T, N)`` buffer; index ``t`` is the value at step ``t``.
Steps = list


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


def initial(x: Tensor, value: Tensor | None) -> Tensor:
    """Initial state ``(B, N)`` for input ``x`` ``(B, T, N)``: ``value``, or zeros."""
    return x.new_zeros(x.shape[0], x.shape[2]) if value is None else value


def step_views(first: Tensor, buf: Tensor) -> Steps:
    """``[first, buf[:, 0], ..., buf[:, T-1]]``: the initial value, then the steps of ``buf``."""
    return [first, *buf.unbind(1)]


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


def is_adaptive(p: AdLIFParameters, state: AdLIFState | None) -> bool:
    """Whether the adaptation variable can ever be non-zero (any ``a``, ``b`` or ``w_0`` != 0)."""
    nonzero = bool((p.a != 0).any()) or bool((p.b != 0).any())
    return nonzero or (state is not None and bool((state.w != 0).any()))
