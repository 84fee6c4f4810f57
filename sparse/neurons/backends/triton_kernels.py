"""Triton kernels of the adaptive LIF scans (``@triton.jit`` only; wrappers in :mod:`.triton_ops`).

Layout: every sequence buffer is ``(B, T, N)`` contiguous; initial states and
per-row outputs are ``(B, N)``; parameters ``(N,)``. Spikes are also written as
``uint8`` for the backward pass.

* ``*_ff`` kernels (no recurrence): one program per ``(batch row, block of
  neurons)``; the state lives in registers and the program loops over time.
* ``*_rec`` kernels (recurrent matrix ``V``, ``nn.Linear`` convention): one program per
  batch row that loops over time and, inside each step, over blocks of neurons. The
  previous step's values are re-read from the program's own output rows, with a CTA
  barrier (``tl.debug_barrier``) between steps so that every thread sees them.

The recurrent matrix is passed transposed and contiguous, ``Vt = V.T`` (row ``k`` holds
the weights leaving presynaptic neuron ``k``), and streamed from L2 every step in tiles
whose loads are masked row by row, so that the traffic per step is proportional to
activity instead of ``N * N`` (masked-off lanes issue no memory transactions on a GPU,
and each row that is loaded is one contiguous, coalesced segment):

* forward, ``rec = s_{t-1} V^T``: tile ``Vt[k-block, j-block]``, only the rows ``k``
  whose previous spike is non-zero, so with binary spikes the traffic is proportional
  to the firing rate; k-blocks without any spike are skipped outright;
* backward, ``ls_rec = d_{t+1} V``, i.e. ``ls_rec[j] = Vt[j, :] . d_{t+1}``: the spike
  adjoint enters the recursion only as ``sigma'(u_t - theta) * ls`` (:func:`_adjoint`;
  the gradient of the initial spikes is computed from ``lu_1`` outside the kernels), so
  for surrogates with compact support (boxcar, triangle) only the rows ``j`` with a
  non-zero surrogate derivative are loaded (traffic proportional to the fraction of
  neurons near threshold), and j-blocks without any are skipped. The fast sigmoid has
  no zeros: every row is loaded.

Loops are ``while`` loops: Triton 3.6's interpreter cannot run ``range`` over a
runtime bound with NumPy >= 2.4, and the GPU compiler handles both alike (the
next input is prefetched by hand in the feed-forward kernel). Offsets into ``(B, T, N)``
buffers and into ``Vt`` are int64.

Elementwise arithmetic follows the reference operation order; launch with
``enable_fp_fusion=False`` so that no FMA contraction changes the rounding.
Surrogates are numbered as in :data:`sparse.neurons.surrogate.SURROGATE_IDS` (0 boxcar,
1 fast sigmoid, 2 triangle). The backward kernels store their partial sums in the order of
:data:`sparse.neurons.backends.gradients.PARTIAL_SUMS` (the literal slot numbers below).
"""

import triton
import triton.language as tl

from ..surrogate import FAST_SIGMOID_SLOPE

__all__ = ["adlif_bwd_ff", "adlif_bwd_rec", "adlif_fwd_ff", "adlif_fwd_rec"]

_SLOPE = tl.constexpr(FAST_SIGMOID_SLOPE)


@triton.jit
def _surrogate(x, KIND: tl.constexpr):
    if KIND == 0:
        out = ((x > -0.5) & (x <= 0.5)).to(x.dtype)
    elif KIND == 1:
        d = 1.0 + _SLOPE * tl.abs(x)
        out = 1.0 / (d * d)
    else:
        out = tl.maximum(1.0 - tl.abs(x), 0.0)
    return out


@triton.jit
def _load_if(ptr, mask, FLAG: tl.constexpr, BLOCK: tl.constexpr, dtype: tl.constexpr):
    """``ptr`` loaded where ``FLAG`` (a switched-off buffer reads as zeros)."""
    if FLAG:
        out = tl.load(ptr, mask=mask, other=0.0).to(dtype)
    else:
        out = tl.zeros([BLOCK], dtype=dtype)
    return out


@triton.jit
def _load_params(alpha_ptr, beta_ptr, a_ptr, b_ptr, offs, mask):
    """The per-neuron ``alpha, beta, a, b`` of the block ``offs``."""
    alpha = tl.load(alpha_ptr + offs, mask=mask, other=0.0)
    beta = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    a = tl.load(a_ptr + offs, mask=mask, other=0.0)
    b = tl.load(b_ptr + offs, mask=mask, other=0.0)
    return alpha, beta, a, b


@triton.jit
def _acc_add(ptr, value, mask):
    """``*ptr += value`` for a program-private accumulator row."""
    tl.store(ptr, tl.load(ptr, mask=mask, other=0.0) + value, mask=mask)


@triton.jit
def _step(xt, rec, up, wp, sp, alpha, beta, a, b, SPARSE: tl.constexpr, ADAPTIVE: tl.constexpr,
          REC: tl.constexpr):
    """One update of ``(u, w)``; the same operations, in the same order, as the reference."""
    if SPARSE:
        t1 = alpha * (up - sp)
        if ADAPTIVE:
            t1 = t1 - (1.0 - alpha) * wp
        u = t1 + xt
        if REC:
            u = u + rec
        if ADAPTIVE:
            w = beta * (wp + b * sp) + ((1.0 - beta) * a) * u
        else:
            w = wp
    else:
        if ADAPTIVE:
            w = beta * wp + a * up + b * sp
        else:
            w = wp
        if REC:
            drive = xt + rec
        else:
            drive = xt + 0.0
        if ADAPTIVE:
            drive = drive - w
        u = alpha * (up - sp) + (1.0 - alpha) * drive
    return u, w


@triton.jit
def adlif_fwd_ff(x_ptr, u_ptr, w_ptr, s_ptr, bits_ptr, u0_ptr, w0_ptr, s0_ptr,
                 alpha_ptr, beta_ptr, a_ptr, b_ptr, threshold, T, N,
                 SPARSE: tl.constexpr, ADAPTIVE: tl.constexpr, BLOCK: tl.constexpr):
    """Forward scan without recurrence; grid ``(B, cdiv(N, BLOCK))``."""
    pid_b = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    alpha, beta, a, b = _load_params(alpha_ptr, beta_ptr, a_ptr, b_ptr, offs, mask)
    row = pid_b.to(tl.int64) * N + offs
    up = tl.load(u0_ptr + row, mask=mask, other=0.0)
    wp = _load_if(w0_ptr + row, mask, ADAPTIVE, BLOCK, alpha.dtype)
    sp = tl.load(s0_ptr + row, mask=mask, other=0.0)
    base = pid_b.to(tl.int64) * T * N + offs
    x_next = tl.load(x_ptr + base, mask=mask, other=0.0)
    t = tl.full([], 0, tl.int64)  # t * N may pass 2**31
    while t < T:
        ptr = base + t * N
        xt = x_next
        x_next = tl.load(x_ptr + ptr + N, mask=mask & (t + 1 < T), other=0.0)  # prefetch
        u, w = _step(xt, 0.0, up, wp, sp, alpha, beta, a, b, SPARSE, ADAPTIVE, False)
        spike = u > threshold
        s = spike.to(u.dtype)
        tl.store(u_ptr + ptr, u, mask=mask)
        if ADAPTIVE:
            tl.store(w_ptr + ptr, w, mask=mask)
        tl.store(s_ptr + ptr, s, mask=mask)
        tl.store(bits_ptr + ptr, spike.to(tl.uint8), mask=mask)
        up, wp, sp = u, w, s
        t += 1


@triton.jit
def adlif_fwd_rec(x_ptr, u_ptr, w_ptr, s_ptr, bits_ptr, u0_ptr, w0_ptr, s0_ptr,
                  alpha_ptr, beta_ptr, a_ptr, b_ptr, vt_ptr, threshold, T, N,
                  SPARSE: tl.constexpr, ADAPTIVE: tl.constexpr, BLOCK: tl.constexpr,
                  BLOCK_K: tl.constexpr):
    """Forward scan with recurrence; ``vt`` is ``V.T`` contiguous ``(N, N)``; grid ``(B,)``."""
    pid_b = tl.program_id(0)
    base = pid_b.to(tl.int64) * T * N
    init = pid_b.to(tl.int64) * N
    t = tl.full([], 0, tl.int64)  # t * N may pass 2**31
    while t < T:
        n0 = 0
        while n0 < N:
            offs = n0 + tl.arange(0, BLOCK)
            mask = offs < N
            alpha, beta, a, b = _load_params(alpha_ptr, beta_ptr, a_ptr, b_ptr, offs, mask)
            if t == 0:
                up = tl.load(u0_ptr + init + offs, mask=mask, other=0.0)
                wp = _load_if(w0_ptr + init + offs, mask, ADAPTIVE, BLOCK, alpha.dtype)
                sp = tl.load(s0_ptr + init + offs, mask=mask, other=0.0)
                prev_s = s0_ptr + init
            else:
                prev = base + (t - 1) * N
                up = tl.load(u_ptr + prev + offs, mask=mask, other=0.0)
                wp = _load_if(w_ptr + prev + offs, mask, ADAPTIVE, BLOCK, alpha.dtype)
                sp = tl.load(s_ptr + prev + offs, mask=mask, other=0.0)
                prev_s = s_ptr + prev
            # rec[j] = sum_k s_{t-1}[k] Vt[k, j]; only the rows of neurons that spiked are read
            rec = tl.zeros([BLOCK], dtype=up.dtype)
            k0 = 0
            while k0 < N:
                koffs = k0 + tl.arange(0, BLOCK_K)
                sk = tl.load(prev_s + koffs, mask=koffs < N, other=0.0)
                fired = sk != 0
                if tl.max(fired.to(tl.int32), axis=0) > 0:  # whole silent block: no loads
                    rows = koffs.to(tl.int64) * N
                    v = tl.load(vt_ptr + rows[:, None] + offs[None, :],
                                mask=fired[:, None] & mask[None, :], other=0.0)
                    rec += tl.sum(v * sk[:, None], axis=0)
                k0 += BLOCK_K
            xt = tl.load(x_ptr + base + t * N + offs, mask=mask, other=0.0)
            u, w = _step(xt, rec, up, wp, sp, alpha, beta, a, b, SPARSE, ADAPTIVE, True)
            spike = u > threshold
            ptr = base + t * N + offs
            tl.store(u_ptr + ptr, u, mask=mask)
            if ADAPTIVE:
                tl.store(w_ptr + ptr, w, mask=mask)
            tl.store(s_ptr + ptr, spike.to(u.dtype), mask=mask)
            tl.store(bits_ptr + ptr, spike.to(tl.uint8), mask=mask)
            n0 += BLOCK
        tl.debug_barrier()  # step t's rows are read by every thread at step t + 1
        t += 1


@triton.jit
def _adjoint(lun, lwn, ls_rec, uc, sg, gs, gu, gw, alpha, beta, a, b,
             SPARSE: tl.constexpr, ADAPTIVE: tl.constexpr):
    """One reverse step: ``(lu_t, lw_t, d_t)`` from ``(lu_{t+1}, lw_{t+1})`` (:mod:`.gradients`).

    ``ls`` (hence ``ls_rec``) is used only through ``sg * ls``: where ``sg`` is zero
    :func:`adlif_bwd_rec` may pass any finite ``ls_rec`` (it passes zero, unloaded).
    """
    ls = ls_rec - alpha * lun + gs
    if SPARSE:
        if ADAPTIVE:
            ls = ls + (beta * b) * lwn
        lw = beta * lwn + (alpha - 1.0) * lun + gw
        lu = alpha * lun + sg * ls + gu
        if ADAPTIVE:
            lu = lu + ((1.0 - beta) * a) * lw
        d = lu
    else:
        if ADAPTIVE:
            ls = ls + b * lwn
        lu = alpha * lun + sg * ls + gu
        if ADAPTIVE:
            lu = lu + a * lwn
        d = (1.0 - alpha) * lu
        lw = beta * lwn - d + gw
    return lu, lw, d


@triton.jit
def adlif_bwd_ff(x_ptr, u_ptr, w_ptr, bits_ptr, u0_ptr, w0_ptr, s0_ptr,
                 alpha_ptr, beta_ptr, a_ptr, b_ptr, gs_ptr, gu_ptr, gw_ptr,
                 lu_ptr, d_ptr, acc_ptr, l1w_ptr, threshold, T, N,
                 SPARSE: tl.constexpr, ADAPTIVE: tl.constexpr, SURROGATE: tl.constexpr,
                 HAS_GU: tl.constexpr, HAS_GW: tl.constexpr, BLOCK: tl.constexpr):
    """Backward scan without recurrence; grid ``(B, cdiv(N, BLOCK))``.

    Writes ``lu`` and ``d`` ``(B, T, N)``, the seven per-row partial sums ``acc``
    ``(B, 7, N)`` (order of :data:`triton_ops.SUMS`) and ``lw_1`` ``(B, N)``.
    """
    pid_b = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    alpha, beta, a, b = _load_params(alpha_ptr, beta_ptr, a_ptr, b_ptr, offs, mask)
    row = pid_b.to(tl.int64) * N + offs
    base = pid_b.to(tl.int64) * T * N + offs
    lun = tl.zeros([BLOCK], dtype=alpha.dtype)
    lwn = tl.zeros([BLOCK], dtype=alpha.dtype)
    acc0 = tl.zeros([BLOCK], dtype=alpha.dtype)
    acc1, acc2, acc3, acc4, acc5, acc6 = acc0, acc0, acc0, acc0, acc0, acc0
    t = tl.full([], 0, tl.int64) + (T - 1)  # t * N may pass 2**31
    while t >= 0:
        ptr = base + t * N
        uc = tl.load(u_ptr + ptr, mask=mask, other=0.0)
        if t > 0:
            up = tl.load(u_ptr + ptr - N, mask=mask, other=0.0)
            sp = tl.load(bits_ptr + ptr - N, mask=mask, other=0).to(uc.dtype)
            wp = _load_if(w_ptr + ptr - N, mask, ADAPTIVE, BLOCK, uc.dtype)
        else:
            up = tl.load(u0_ptr + row, mask=mask, other=0.0)
            sp = tl.load(s0_ptr + row, mask=mask, other=0.0)
            wp = _load_if(w0_ptr + row, mask, ADAPTIVE, BLOCK, uc.dtype)
        sg = _surrogate(uc - threshold, SURROGATE)
        gs = tl.load(gs_ptr + ptr, mask=mask, other=0.0)
        gu = tl.load(gu_ptr + ptr, mask=mask, other=0.0) if HAS_GU else 0.0
        gw = tl.load(gw_ptr + ptr, mask=mask, other=0.0) if HAS_GW else 0.0
        lu, lw, d = _adjoint(lun, lwn, 0.0, uc, sg, gs, gu, gw, alpha, beta, a, b,
                             SPARSE, ADAPTIVE)
        tl.store(lu_ptr + ptr, lu, mask=mask)
        tl.store(d_ptr + ptr, d, mask=mask)
        acc0 += lu * up
        acc1 += lu * sp
        acc4 += lw * sp
        if SPARSE:
            acc2 += lu * wp
            acc5 += lw * uc
        else:
            acc2 += lu * _load_if(w_ptr + ptr, mask, ADAPTIVE, BLOCK, uc.dtype)
            acc3 += lu * tl.load(x_ptr + ptr, mask=mask, other=0.0)
            acc5 += lw * up
        acc6 += lw * wp
        lun, lwn = lu, lw
        t -= 1
    arow = pid_b.to(tl.int64) * 7 * N + offs
    tl.store(acc_ptr + arow, acc0, mask=mask)
    tl.store(acc_ptr + arow + N, acc1, mask=mask)
    tl.store(acc_ptr + arow + 2 * N, acc2, mask=mask)
    tl.store(acc_ptr + arow + 3 * N, acc3, mask=mask)
    tl.store(acc_ptr + arow + 4 * N, acc4, mask=mask)
    tl.store(acc_ptr + arow + 5 * N, acc5, mask=mask)
    tl.store(acc_ptr + arow + 6 * N, acc6, mask=mask)
    tl.store(l1w_ptr + row, lwn, mask=mask)


@triton.jit
def adlif_bwd_rec(x_ptr, u_ptr, w_ptr, bits_ptr, u0_ptr, w0_ptr, s0_ptr,
                  alpha_ptr, beta_ptr, a_ptr, b_ptr, vt_ptr, gs_ptr, gu_ptr, gw_ptr,
                  lu_ptr, d_ptr, acc_ptr, lw_ptr, threshold, T, N,
                  SPARSE: tl.constexpr, ADAPTIVE: tl.constexpr, SURROGATE: tl.constexpr,
                  HAS_GU: tl.constexpr, HAS_GW: tl.constexpr, BLOCK: tl.constexpr,
                  BLOCK_K: tl.constexpr):
    """Backward scan with recurrence; ``vt`` is ``V.T`` contiguous ``(N, N)``; grid ``(B,)``.

    As :func:`adlif_bwd_ff`; ``acc`` ``(B, 7, N)`` must be zero on entry, ``lw``
    ``(B, 2, N)`` is zeroed scratch whose slot 0 holds ``lw_1`` on exit.
    """
    pid_b = tl.program_id(0)
    base = pid_b.to(tl.int64) * T * N
    row0 = pid_b.to(tl.int64) * N
    t = tl.full([], 0, tl.int64) + (T - 1)  # t * N may pass 2**31
    while t >= 0:
        cur = pid_b.to(tl.int64) * 2 * N + (t % 2) * N
        nxt = pid_b.to(tl.int64) * 2 * N + ((t + 1) % 2) * N
        n0 = 0
        while n0 < N:
            offs = n0 + tl.arange(0, BLOCK)
            mask = offs < N
            alpha, beta, a, b = _load_params(alpha_ptr, beta_ptr, a_ptr, b_ptr, offs, mask)
            ptr = base + t * N + offs
            uc = tl.load(u_ptr + ptr, mask=mask, other=0.0)
            sg = _surrogate(uc - threshold, SURROGATE)
            ls_rec = tl.zeros([BLOCK], dtype=uc.dtype)
            if t < T - 1:
                lun = tl.load(lu_ptr + ptr + N, mask=mask, other=0.0)
                lwn = tl.load(lw_ptr + nxt + offs, mask=mask, other=0.0)
                # ls_rec[j] = sum_i d_{t+1}[i] Vt[j, i], needed only where sg[j] != 0 (_adjoint)
                live = mask
                if SURROGATE != 1:  # compact support; the fast sigmoid is never zero
                    live = live & (sg != 0)
                if tl.max(live.to(tl.int32), axis=0) > 0:  # no live row: no loads
                    rows = offs.to(tl.int64) * N
                    dnext = d_ptr + base + (t + 1) * N
                    k0 = 0
                    while k0 < N:
                        koffs = k0 + tl.arange(0, BLOCK_K)
                        kmask = koffs < N
                        dk = tl.load(dnext + koffs, mask=kmask, other=0.0)
                        v = tl.load(vt_ptr + rows[:, None] + koffs[None, :],
                                    mask=live[:, None] & kmask[None, :], other=0.0)
                        ls_rec += tl.sum(v * dk[None, :], axis=1)
                        k0 += BLOCK_K
            else:
                lun = tl.zeros([BLOCK], dtype=uc.dtype)
                lwn = tl.zeros([BLOCK], dtype=uc.dtype)
            if t > 0:
                up = tl.load(u_ptr + ptr - N, mask=mask, other=0.0)
                sp = tl.load(bits_ptr + ptr - N, mask=mask, other=0).to(uc.dtype)
                wp = _load_if(w_ptr + ptr - N, mask, ADAPTIVE, BLOCK, uc.dtype)
            else:
                up = tl.load(u0_ptr + row0 + offs, mask=mask, other=0.0)
                sp = tl.load(s0_ptr + row0 + offs, mask=mask, other=0.0)
                wp = _load_if(w0_ptr + row0 + offs, mask, ADAPTIVE, BLOCK, uc.dtype)
            gs = tl.load(gs_ptr + ptr, mask=mask, other=0.0)
            gu = tl.load(gu_ptr + ptr, mask=mask, other=0.0) if HAS_GU else 0.0
            gw = tl.load(gw_ptr + ptr, mask=mask, other=0.0) if HAS_GW else 0.0
            lu, lw, d = _adjoint(lun, lwn, ls_rec, uc, sg, gs, gu, gw, alpha, beta, a, b,
                                 SPARSE, ADAPTIVE)
            tl.store(lu_ptr + ptr, lu, mask=mask)
            tl.store(d_ptr + ptr, d, mask=mask)
            tl.store(lw_ptr + cur + offs, lw, mask=mask)
            arow = acc_ptr + pid_b.to(tl.int64) * 7 * N + offs
            _acc_add(arow, lu * up, mask)
            _acc_add(arow + N, lu * sp, mask)
            _acc_add(arow + 4 * N, lw * sp, mask)
            _acc_add(arow + 6 * N, lw * wp, mask)
            if SPARSE:
                _acc_add(arow + 2 * N, lu * wp, mask)
                _acc_add(arow + 5 * N, lw * uc, mask)
            else:
                _acc_add(arow + 2 * N, lu * _load_if(w_ptr + ptr, mask, ADAPTIVE, BLOCK, uc.dtype),
                         mask)
                _acc_add(arow + 3 * N, lu * tl.load(x_ptr + ptr, mask=mask, other=0.0), mask)
                _acc_add(arow + 5 * N, lw * up, mask)
            n0 += BLOCK
        tl.debug_barrier()  # d_t and lw_t are read by every thread at step t - 1
        t -= 1
