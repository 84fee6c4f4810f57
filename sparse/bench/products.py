"""Event-driven against dense feed-forward products: ``python -m sparse.bench products``.

Times each product of :mod:`sparse.neurons.backends.spike_linear` (forward ``x W^T``,
weight gradient ``g^T x``, input gradient ``g W`` restricted to a boxcar support of the
same density) against the BLAS product it replaces, at the shapes of the paper encoder's
cortex (``B * T`` rows, 1184 or 512 inputs, 512 outputs), over input densities. Where a
ratio crosses 1 is where :data:`~sparse.neurons.backends.spike_linear.DENSE_ABOVE` should
send that product to BLAS on this machine. Repeats of both sides are interleaved and the
medians of the process's CPU time are compared (wall time under ``--wall``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from ..neurons.backends import spike_linear as sl

__all__ = ["main", "product_steps"]


Pair = tuple[Callable[[], object], Callable[[], object]]


def product_steps(rows: int, inputs: int, outputs: int, density: float,
                  gen: torch.Generator) -> dict[str, Pair]:
    """``{product: (event-driven, dense)}`` closures on random spikes of ``density``.

    The membrane of the input gradient's support is drawn so that a share ``density`` of
    the entries lies within the boxcar's half unit of the threshold 1.
    """
    x = (torch.rand(rows, inputs, generator=gen) < density).float()
    near = torch.rand(rows, inputs, generator=gen) < density
    u = torch.where(near, 0.6 + 0.8 * torch.rand(rows, inputs, generator=gen), -1.0)
    w = torch.randn(outputs, inputs, generator=gen)
    g = torch.randn(rows, outputs, generator=gen)
    k = sl.load_spike_kernels()
    if k is None:
        raise SystemExit("the event-driven products need Numba")
    mask = sl._Mask(0.0, 0, x.dtype)
    wt = w.T.contiguous()
    x2 = x.numpy()

    def forward() -> object:
        out = torch.empty(rows, outputs)
        counts = torch.empty(rows, dtype=torch.int64).numpy()
        k.count_rows(x2, counts)
        start, idx, val, end = sl._rows(counts, x2.dtype)
        with sl.compiled_threads(rows) as threads:
            (k.forward_rows if threads > 1 else k.forward_rows_serial)(
                x2, start, *mask.args(), idx, val, end, wt.numpy(),
                torch.zeros(outputs).numpy(), out.numpy(), threads)
        return out

    def weight() -> object:
        return sl.spike_gram(g, x)

    def input_grad() -> object:
        with sl.compiled_threads(rows) as threads:
            return sl._restricted_input_grad(k, u, 1.0, "boxcar", mask, g, wt, threads)

    return {"forward": (forward, lambda: torch.nn.functional.linear(x, w)),
            "weight": (weight, lambda: g.T @ x),
            "input": (input_grad, lambda: g @ w)}


def _median_seconds(fns: dict[str, Callable[[], object]], repeats: int, clock) -> dict[str, float]:
    for fn in fns.values():
        fn()
    seen: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            seen[name].append(clock() - start)
    return {name: statistics.median(v) for name, v in seen.items()}


def main(argv: Sequence[str] | None = None) -> dict[tuple[int, float, str], float]:
    """Print the table; returns ``{(inputs, density, product): event / dense}``."""
    parser = argparse.ArgumentParser(prog="python -m sparse.bench products", description=__doc__)
    parser.add_argument("--rows", type=int, default=8 * 308, help="B * T (default 8 x 308)")
    parser.add_argument("--inputs", default="1184,512")
    parser.add_argument("--outputs", type=int, default=512)
    parser.add_argument("--densities", default="0.01,0.04,0.1,0.2,0.3,0.4,0.5")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--wall", action="store_true", help="compare wall instead of CPU time")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.wall else time.process_time
    print(f"# rows={args.rows} outputs={args.outputs} threads={torch.get_num_threads()} "
          f"{'wall' if args.wall else 'CPU'} ms, medians of {args.repeats}; "
          f"DENSE_ABOVE now {sl.DENSE_ABOVE}")
    print("| inputs | density | product | event-driven ms | dense ms | ratio |")
    print("|---:|---:|---|---:|---:|---:|")
    ratios = {}
    gen = torch.Generator().manual_seed(0)
    limits, sl.DENSE_ABOVE = sl.DENSE_ABOVE, sl.DenseAbove(2.0, 2.0, 2.0)  # events throughout
    try:
        _sweep(args, clock, gen, ratios)
    finally:
        sl.DENSE_ABOVE = limits
    return ratios


def _sweep(args: argparse.Namespace, clock, gen: torch.Generator, ratios: dict) -> None:
    for inputs in (int(v) for v in args.inputs.split(",")):
        for density in (float(v) for v in args.densities.split(",")):
            steps = product_steps(args.rows, inputs, args.outputs, density, gen)
            fns = {f"{p}/{side}": fn for p, pair in steps.items()
                   for side, fn in zip(("event", "dense"), pair, strict=True)}
            got = _median_seconds(fns, args.repeats, clock)
            for product in steps:
                event, dense = got[f"{product}/event"], got[f"{product}/dense"]
                ratios[inputs, density, product] = event / dense
                print(f"| {inputs} | {density:g} | {product} | {event * 1e3:.2f} | "
                      f"{dense * 1e3:.2f} | {event / dense:.2f} |", flush=True)
