"""Triton back-end: the fused scan kernels as ``torch.library`` custom ops with autograd.

Importing this module imports Triton; :mod:`sparse.neurons.backends` does so only on
the first call of the ``"triton"`` back-end. Two custom ops:

* ``sparse::adlif_fwd`` -> ``(spikes, u, w, spike bits)``, all ``(B, T, N)`` (``w`` empty
  for non-adaptive layers, bits ``uint8``), and the final ``w``;
* ``sparse::adlif_bwd`` -> ``(lu, d, partial sums (B, 7, N), lw_1 (B, N))``,

each with a fake (meta) implementation, and ``register_autograd`` gluing them together.
Both ops take ``V`` in the ``nn.Linear`` convention and hand the kernels ``V.T``
contiguous (one ``N x N`` copy per call), the layout in which the rows a kernel skips
(silent presynaptic neurons forward, zero surrogate derivatives backward) are contiguous.
The parameter reductions and the recurrent gradient (one GEMM ``d^T s_prev``) are
finished in PyTorch by :func:`sparse.neurons.backends.gradients.finish_grads`, shared
with the ``cpu`` back-end. Only ``float`` thresholds are supported. The non-spiking readout
uses the ``cpu`` implementation (three elementwise operations per step).

On CPU tensors the kernels run under ``TRITON_INTERPRET=1`` (this is how they are
tested without a GPU); :func:`sparse.neurons.backends.triton_available` still reports
the back-end as CUDA-only.
"""

from __future__ import annotations

import os

import torch
import triton
from torch import Tensor

from ..state import AdLIFParameters, AdLIFState, ScanResult
from ..surrogate import SURROGATE_IDS
from . import triton_kernels as K
from .common import check_args, common_dtype, is_adaptive
from .gradients import PARTIAL_SUMS, finish_grads, with_final
from .leaky import leaky_integrator_scan_cpu

__all__ = ["adlif_scan_triton", "leaky_integrator_scan_triton"]

_INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
# Small tiles under the interpreter keep multi-block paths exercised on small test shapes.
BLOCK_FF = 16 if _INTERPRET else 128
BLOCK_REC = 16 if _INTERPRET else 64
BLOCK_K = 16 if _INTERPRET else 64
#: Warps of the recurrent kernels. Their grid is one program per batch row, so more warps
#: put more loads in flight; with 4, the 64 x 64 float32 backward tile spills registers
#: when ``N % 16 != 0`` (ptxas for sm_90), with 8 neither kernel spills.
NUM_WARPS_REC = 8


def _opts(recurrent: bool = False) -> dict:
    """Launch options: no FMA contraction (rounding as the reference), warps (recurrent)."""
    if _INTERPRET:
        return {}
    if recurrent:
        return {"enable_fp_fusion": False, "num_warps": NUM_WARPS_REC}
    return {"enable_fp_fusion": False}


def _vec(p: Tensor, n: int) -> Tensor:
    return p.expand(n).contiguous()


@torch.library.custom_op("sparse::adlif_fwd", mutates_args=())
def adlif_fwd(
    x: Tensor, alpha: Tensor, beta: Tensor, a: Tensor, b: Tensor, recurrent: Tensor | None,
    u0: Tensor, w0: Tensor, s0: Tensor, threshold: float, sparse: bool, adaptive: bool,
    surrogate: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Forward scan: ``(spikes, u, w, bits)``, each ``(B, T, N)``, and the final ``w`` ``(B, N)``.

    The last output is separate so that a gradient reaching the final ``w`` of a
    non-adaptive layer (identically zero, no ``w`` buffer) still reaches ``a, b, beta``.
    """
    batch, steps, n = x.shape
    S, U = torch.empty_like(x), torch.empty_like(x)
    W = torch.empty_like(x) if adaptive else x.new_empty(0)
    bits = torch.empty(x.shape, dtype=torch.uint8, device=x.device)
    w_arg = W if adaptive else U  # never touched when not adaptive
    args = (x, U, w_arg, S, bits, u0, w0, s0, alpha, beta, a, b)
    if recurrent is None:
        grid = (batch, triton.cdiv(n, BLOCK_FF))
        K.adlif_fwd_ff[grid](*args, threshold, steps, n, SPARSE=sparse, ADAPTIVE=adaptive,
                             BLOCK=BLOCK_FF, **_opts())
    else:
        vt = recurrent.T.contiguous()  # rows = presynaptic neurons (triton_kernels docstring)
        K.adlif_fwd_rec[(batch,)](*args, vt, threshold, steps, n, SPARSE=sparse,
                                  ADAPTIVE=adaptive, BLOCK=BLOCK_REC, BLOCK_K=BLOCK_K,
                                  **_opts(True))
    w_last = W[:, -1].clone() if adaptive else x.new_zeros(batch, n)
    return S, U, W, bits, w_last


@adlif_fwd.register_fake
def _(x, alpha, beta, a, b, recurrent, u0, w0, s0, threshold, sparse, adaptive, surrogate):
    W = torch.empty_like(x) if adaptive else x.new_empty(0)
    return (torch.empty_like(x), torch.empty_like(x), W,
            torch.empty(x.shape, dtype=torch.uint8, device=x.device),
            x.new_empty(x.shape[0], x.shape[2]))


@torch.library.custom_op("sparse::adlif_bwd", mutates_args=())
def adlif_bwd(
    x: Tensor, alpha: Tensor, beta: Tensor, a: Tensor, b: Tensor, recurrent: Tensor | None,
    U: Tensor, W: Tensor, bits: Tensor, u0: Tensor, w0: Tensor, s0: Tensor, gs: Tensor,
    gu: Tensor | None, gw: Tensor | None, threshold: float, sparse: bool, adaptive: bool,
    surrogate: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Backward scan: ``(lu, d, partial sums (B, 7, N) in PARTIAL_SUMS order, lw_1 (B, N))``."""
    batch, steps, n = U.shape
    LU, D = torch.empty_like(U), torch.empty_like(U)
    acc = U.new_zeros(batch, len(PARTIAL_SUMS), n)
    w_arg = W if adaptive else U
    flags = dict(SPARSE=sparse, ADAPTIVE=adaptive, SURROGATE=surrogate, HAS_GU=gu is not None,
                 HAS_GW=gw is not None)
    head = (x, U, w_arg, bits, u0, w0, s0, alpha, beta, a, b)
    tail = (gs, gs if gu is None else gu, gs if gw is None else gw, LU, D, acc)
    if recurrent is None:
        l1w = U.new_empty(batch, n)
        grid = (batch, triton.cdiv(n, BLOCK_FF))
        K.adlif_bwd_ff[grid](*head, *tail, l1w, threshold, steps, n, **flags, BLOCK=BLOCK_FF,
                             **_opts())
    else:
        lw = U.new_zeros(batch, 2, n)
        vt = recurrent.T.contiguous()
        K.adlif_bwd_rec[(batch,)](*head, vt, *tail, lw, threshold, steps, n, **flags,
                                  BLOCK=BLOCK_REC, BLOCK_K=BLOCK_K, **_opts(True))
        l1w = lw[:, 0].contiguous()
    return LU, D, acc, l1w


@adlif_bwd.register_fake
def _(x, alpha, beta, a, b, recurrent, U, W, bits, u0, w0, s0, gs, gu, gw, threshold, sparse,
      adaptive, surrogate):
    batch, _, n = U.shape
    return (torch.empty_like(U), torch.empty_like(U), U.new_empty(batch, len(PARTIAL_SUMS), n),
            U.new_empty(batch, n))


def _setup_context(ctx, inputs, output) -> None:
    x, alpha, beta, a, b, recurrent, u0, w0, s0, threshold, sparse, adaptive, surrogate = inputs
    _, U, W, bits, _ = output
    ctx.save_for_backward(x if not sparse else None, alpha, beta, a, b, recurrent, U, W, bits,
                          u0, w0, s0)
    ctx.flags = (threshold, sparse, adaptive, surrogate)


def _backward(ctx, g_spikes, g_u, g_w, g_bits, g_wlast):
    x, alpha, beta, a, b, recurrent, U, W, bits, u0, w0, s0 = ctx.saved_tensors
    threshold, sparse, adaptive, surrogate = ctx.flags
    gs = torch.zeros_like(U) if g_spikes is None else g_spikes.contiguous()
    gu = None if g_u is None else g_u.contiguous()
    gw = with_final(None if g_w is None or not adaptive else g_w.contiguous(), g_wlast, U)
    LU, D, acc, l1w = adlif_bwd(U if x is None else x, alpha, beta, a, b, recurrent, U, W, bits,
                                u0, w0, s0, gs, gu, gw, threshold, sparse, adaptive, surrogate)
    needs = tuple(ctx.needs_input_grad[:9])
    variant = "sparse" if sparse else "sparch"
    grads = finish_grads(variant, needs, alpha, beta, a, b, recurrent, acc, LU, D, s0, bits,
                         LU[:, 0], l1w, adaptive)
    return (*grads, None, None, None, None)


torch.library.register_autograd("sparse::adlif_fwd", _backward, setup_context=_setup_context)


def adlif_scan_triton(
    x: Tensor,
    p: AdLIFParameters,
    recurrent: Tensor | None = None,
    state: AdLIFState | None = None,
    *,
    variant: str = "sparse",
    surrogate: str = "boxcar",
    return_traces: bool = False,
) -> ScanResult:
    """Adaptive LIF scan with the fused Triton kernels; contract of ``functional.adlif_scan``.

    Parameters
    ----------
    x : Tensor
        ``(B, T, N)`` input currents (float32 on CUDA; CPU tensors need ``TRITON_INTERPRET=1``).
    p : AdLIFParameters
        ``alpha, beta, a, b`` each ``(N,)`` or broadcastable; ``threshold`` a float.
    recurrent : Tensor, optional
        ``(N, N)`` recurrent matrix (``nn.Linear`` convention).
    state : AdLIFState, optional
        Initial ``(u, w, s)``, each ``(B, N)``.

    Returns
    -------
    ScanResult
        Spikes ``(B, T, N)``, final state, traces on request.
    """
    check_args(x, variant, surrogate)
    x, p, recurrent, state = common_dtype(x, p, recurrent, state)
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"the triton back-end needs float32 or float64 inputs, got {x.dtype}")
    threshold = p.threshold
    if isinstance(threshold, Tensor):
        if threshold.numel() != 1:
            raise ValueError("the triton back-end needs a scalar threshold")
        threshold = float(threshold)
    batch, steps, n = x.shape
    zeros = x.new_zeros(batch, n)
    u0, w0, s0 = (zeros, zeros, zeros) if state is None else state
    if steps == 0:
        empty = x.new_zeros(batch, 0, n)
        traces = (empty, empty) if return_traces else (None, None)
        return ScanResult(empty, AdLIFState(u0, w0, s0), *traces)
    # w traces are computed when requested, so that their gradient reaches a, b and beta
    adaptive = is_adaptive(p, state) or return_traces
    S, U, W, _, w_last = adlif_fwd(
        x.contiguous(), _vec(p.alpha, n), _vec(p.beta, n), _vec(p.a, n), _vec(p.b, n),
        None if recurrent is None else recurrent.contiguous(),
        u0.contiguous(), w0.contiguous(), s0.contiguous(), float(threshold),
        variant == "sparse", adaptive, SURROGATE_IDS[surrogate],
    )
    final = AdLIFState(U[:, -1], w_last, S[:, -1])
    return ScanResult(S, final, U if return_traces else None, W if return_traces else None)


def leaky_integrator_scan_triton(x: Tensor, alpha: Tensor, u0: Tensor | None = None) -> Tensor:
    """Non-spiking readout potentials ``(B, T, N)`` (the ``cpu`` implementation, any device)."""
    return leaky_integrator_scan_cpu(x, alpha, u0)
