"""Random neuron-scan configurations and the oracle comparison every back-end must pass.

Used by the test suite and usable on a GPU machine::

    from sparse.neurons.backends.testing import make_case, compare
    compare(make_case(torch.Generator().manual_seed(0), batch=2, steps=50, n=64,
                      recurrent=True, device="cuda"), my_scan)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from sparse.neurons import functional as F
from sparse.neurons.state import AdLIFParameters, AdLIFState, ScanResult
from sparse.neurons.surrogate import SURROGATES

__all__ = ["SURROGATE_NAMES", "Case", "compare", "compare_zero_adaptation", "loss_weights",
           "make_case", "output_tensors", "run"]

SURROGATE_NAMES = tuple(SURROGATES)


@dataclass
class Case:
    """One random configuration: leaf tensors (all requiring grad) and flags."""

    x: Tensor
    tau_u: Tensor
    tau_w: Tensor
    a: Tensor
    b: Tensor
    sfa: Tensor
    V: Tensor | None
    state: tuple[Tensor, Tensor, Tensor] | None
    dt: float
    threshold: float
    variant: str
    surrogate: str
    traces: bool

    def params(self) -> AdLIFParameters:
        """Differentiable ``alpha, beta`` (functions of tau), masked ``a, b``."""
        alpha = torch.exp(-self.dt / self.tau_u)
        beta = torch.exp(-self.dt / self.tau_w)
        return AdLIFParameters(alpha, beta, self.a * self.sfa, self.b * self.sfa, self.threshold)

    def leaves(self) -> list[Tensor]:
        """Every tensor the gradients are compared for."""
        out = [self.x, self.tau_u, self.tau_w, self.a, self.b]
        if self.V is not None:
            out.append(self.V)
        if self.state is not None:
            out.extend(self.state)
        return out


def make_case(
    gen: torch.Generator,
    *,
    batch: int,
    steps: int,
    n: int,
    dtype: torch.dtype = torch.float32,
    variant: str = "sparse",
    recurrent: bool = False,
    with_state: bool = False,
    drive: str = "normal",
    sfa_portion: float = 0.5,
    dt: float = 2.0,
    surrogate: str = "boxcar",
    traces: bool = False,
    device: str | torch.device = "cpu",
    stable: bool = False,
) -> Case:
    """A random, reproducible :class:`Case` (``drive``: "normal", "silent" or "saturated").

    ``a`` is drawn over the model's range: ``[-0.5, 5]`` (SPARSE) or ``[-1, 1]`` (SpArch).
    A SpArch neuron with ``a < -(1 - beta)`` has unstable sub-threshold dynamics (its 2x2
    update matrix, ``det = alpha beta``, fails Jury's test ``trace < 1 + det``): ``|u|``
    grows by about 1.5x per step, and with it every rounding difference, so that after a
    few dozen steps no floating-point format decides its spikes. ``stable=True`` draws
    SpArch's ``a`` from ``[0, 1]`` instead, for long sequences (SPARSE's range is stable).
    """

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=gen, dtype=dtype).to(device)

    scale, offset = {"normal": (2.0, 0.0), "silent": (0.0, -0.3), "saturated": (20.0, 5.0)}[drive]
    x = rand(batch, steps, n) * scale + offset
    tau_u = 3.0 + 22.0 * rand(n)
    tau_w = 30.0 + 320.0 * rand(n)
    if variant == "sparse":
        a = -0.5 + 5.5 * rand(n)
        b = 2.0 * rand(n)
    else:
        a = (0.0 + rand(n)) if stable else (-1.0 + 2.0 * rand(n))
        b = 2.0 * rand(n)
    sfa = (rand(n) < sfa_portion).to(dtype)
    V = None
    if recurrent:
        bound = 1.0 / math.sqrt(n)
        mask = (rand(n, n) < 0.5).to(dtype)
        mask.fill_diagonal_(0.0)
        V = (2 * rand(n, n) - 1) * bound * 3 * mask
    state = None
    if with_state:
        state = (rand(batch, n) * 1.5, rand(batch, n) - 0.5, (rand(batch, n) < 0.3).to(dtype))
    leaves = [x, tau_u, tau_w, a, b] + ([V] if V is not None else []) + list(state or ())
    for t in leaves:
        t.requires_grad_(True)
    return Case(x, tau_u, tau_w, a, b, sfa, V, state, dt, 1.0, variant, surrogate, traces)


def run(case: Case, scan: Callable[..., ScanResult]) -> ScanResult:
    """Apply ``scan`` (``adlif_scan``'s signature) to the case."""
    state = None if case.state is None else AdLIFState(*case.state)
    return scan(case.x, case.params(), case.V, state, variant=case.variant,
                surrogate=case.surrogate, return_traces=case.traces)


def loss_weights(out: ScanResult, gen: torch.Generator) -> list[Tensor]:
    """Random cotangents for every differentiable output."""
    outs = output_tensors(out)
    return [torch.randn(o.shape, generator=gen, dtype=o.dtype).to(o.device) for o in outs]


def output_tensors(out: ScanResult) -> list[Tensor]:
    """Spikes, final ``u, w, s`` and (when present) the traces."""
    items = [out.spikes, out.state.u, out.state.w, out.state.s]
    if out.u is not None:
        items += [out.u, out.w]
    return items


def _compared_rows(case: Case, ref: ScanResult, got: ScanResult,
                   margin: float) -> tuple[Tensor, Tensor]:
    """Batch rows ``(B,)`` whose outputs, and whose gradients, :func:`compare` compares.

    Raises ``AssertionError`` where a spike differs beyond ``margin`` (see :func:`compare`).
    """
    differ = got.spikes != ref.spikes  # (B, T, N)
    keep = ~differ.flatten(1).any(1)
    if margin == 0:
        assert keep.all(), "spikes differ from the reference"
        return keep, keep
    with torch.no_grad():
        u = run(replace(case, traces=True), F.adlif_scan).u
    scale = u.abs().clamp(min=1.0)
    dist = (u - case.threshold).abs()
    for b in (~keep).nonzero().flatten().tolist():
        t = int(differ[b].any(1).nonzero()[0])  # first step of this row that differs
        beyond = differ[b, t] & (dist[b, t] > margin * scale[b, t])
        if beyond.any():
            i = int(beyond.nonzero()[0])
            raise AssertionError(
                f"spikes differ from the reference (row {b}, step {t}, neuron {i}: the "
                f"reference membrane is {float(dist[b, t, i]):.3g} from the threshold, beyond "
                f"rounding)")
    assert keep.any(), "spikes differ from the reference in every batch row"
    grads = keep
    if case.surrogate == "boxcar":  # its derivative jumps at threshold +- 0.5
        edge = ((dist - 0.5).abs() <= margin * scale).flatten(1).any(1)
        grads = keep & ~edge
        assert grads.any(), "every batch row sits within rounding of a surrogate jump"
    return keep, grads


def compare(case: Case, scan: Callable[..., ScanResult], *, tol: float = 1e-5,
            seed: int = 0, margin: float | None = None) -> None:
    """Spikes identical, membranes and every gradient within ``tol`` of the reference.

    Exact wherever rounding cannot decide a spike. With a recurrent matrix in float32 it
    can: back-ends sum the recurrent current in different orders (the compiled loops over
    the neurons that spiked, BLAS in an order of its own that depends on the machine's
    vector width and thread count), so membranes differ by a few ulp, and a membrane that
    close to the threshold may spike in one and not in the other; from there on, that
    batch row follows another trajectory, as valid as the reference's. For these cases
    (``margin=None`` means ``tol`` for a recurrent float32 case, else 0), a row may differ
    from a step on where every differing spike has its reference membrane within
    ``margin * max(1, |u|)`` of the threshold, and such rows leave the comparison (their
    outputs, and their gradients through zero cotangents); with the boxcar surrogate,
    whose derivative jumps at ``threshold +- 0.5``, so do rows with a membrane that close
    to a jump, for the gradients. At least one row must remain. Float64 cases and layers
    without recurrence stay exact: a differing spike fails.
    """
    ref = run(case, F.adlif_scan)
    got = run(case, scan)
    if margin is None:
        margin = tol if case.V is not None and case.x.dtype == torch.float32 else 0.0
    keep, keep_grads = _compared_rows(case, ref, got, margin)
    for g, r in zip(output_tensors(got)[1:], output_tensors(ref)[1:], strict=True):
        torch.testing.assert_close(g[keep], r[keep], rtol=tol, atol=tol)
    rows = keep_grads.to(ref.spikes.dtype)
    weights = [w * rows.view(-1, *[1] * (w.dim() - 1))
               for w in loss_weights(ref, torch.Generator().manual_seed(seed))]
    leaves = case.leaves()

    def grads(out: ScanResult) -> tuple[Tensor | None, ...]:
        loss = sum((o * w).sum() for o, w in zip(output_tensors(out), weights, strict=True))
        return torch.autograd.grad(loss, leaves, allow_unused=True)

    names = ["x", "tau_u", "tau_w", "a", "b"] + (["V"] if case.V is not None else []) + (
        ["u0", "w0", "s0"] if case.state is not None else [])
    for name, g, r in zip(names, grads(got), grads(ref), strict=True):
        if r is None:
            r = torch.zeros_like(g) if g is not None else None
        if g is None:
            g = torch.zeros_like(r) if r is not None else None
        if g is None:
            continue
        scale = max(1.0, float(r.abs().max()))
        torch.testing.assert_close(g, r, rtol=tol, atol=tol * scale,
                                   msg=lambda m, n=name: f"{n}: {m}")


def compare_zero_adaptation(scan: Callable[..., ScanResult], device: str | torch.device = "cpu",
                            *, recurrent: bool = False, tol: float = 1e-5) -> None:
    """LIF layer (``a = b = 0``, no state) whose final ``w`` and ``w`` traces carry gradient.

    ``w`` is identically zero, yet ``dL/da``, ``dL/db`` and ``dL/dbeta`` are not: a fast
    path that skips ``w`` must still produce them. ``a, b, beta`` are the leaves here.
    """
    gen = torch.Generator().manual_seed(5)
    batch, steps, n = 2, 6, 5
    x = (torch.rand(batch, steps, n, generator=gen) * 2).to(device)
    alpha = (0.7 + 0.2 * torch.rand(n, generator=gen)).to(device).requires_grad_()
    beta = (0.9 + 0.09 * torch.rand(n, generator=gen)).to(device).requires_grad_()
    a = torch.zeros(n, device=device, requires_grad=True)
    b = torch.zeros(n, device=device, requires_grad=True)
    V = (torch.rand(n, n, generator=gen) - 0.5).to(device) if recurrent else None
    weights = [torch.randn(batch, steps, n, generator=gen).to(device),
               torch.randn(batch, n, generator=gen).to(device)]
    for variant in ("sparse", "sparch"):
        grads = []
        for fn in (scan, F.adlif_scan):
            out = fn(x, AdLIFParameters(alpha, beta, a, b, 1.0), V, variant=variant,
                     return_traces=True)
            loss = (out.w * weights[0]).sum() + (out.state.w * weights[1]).sum() + out.u.sum()
            grads.append(torch.autograd.grad(loss, [alpha, beta, a, b]))
        for g, r in zip(*grads, strict=True):
            torch.testing.assert_close(g, r, rtol=tol, atol=tol)
