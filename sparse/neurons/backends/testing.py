"""Random neuron-scan configurations and the oracle comparison every back-end must pass.

Used by the test suite and usable on a GPU machine::

    from sparse.neurons.backends.testing import make_case, compare
    compare(make_case(torch.Generator().manual_seed(0), batch=2, steps=50, n=64,
                      recurrent=True, device="cuda"), my_scan)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from sparse.neurons import functional as F
from sparse.neurons.state import AdLIFParameters, AdLIFState, ScanResult

SURROGATE_NAMES = ("boxcar", "fast_sigmoid", "triangle")


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
) -> Case:
    """A random, reproducible :class:`Case` (``drive``: "normal", "silent" or "saturated")."""

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
        a = -1.0 + 2.0 * rand(n)
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


def compare(case: Case, scan: Callable[..., ScanResult], *, tol: float = 1e-5,
            seed: int = 0) -> None:
    """Spikes identical, membranes and every gradient within ``tol`` of the reference."""
    ref = run(case, F.adlif_scan)
    got = run(case, scan)
    assert torch.equal(got.spikes, ref.spikes), "spikes differ from the reference"
    for g, r in zip(output_tensors(got)[1:], output_tensors(ref)[1:], strict=True):
        torch.testing.assert_close(g, r, rtol=tol, atol=tol)
    weights = loss_weights(ref, torch.Generator().manual_seed(seed))
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
