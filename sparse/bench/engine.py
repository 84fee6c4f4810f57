"""Neuron back-end benchmark: ``python -m sparse.bench [engine] ...``.

Times forward + backward of three workloads per neuron back-end, in one process so the
ratios are comparable:

(a) ``lif``: non-recurrent LIF population, 1184 units (the auditory nerve);
(b) ``radlif``: recurrent AdLIF population, 512 units, half adaptive, recurrent density 0.5;
(c) ``encoder``: the full :class:`~sparse.ASREncoder` paper configuration at dt = 2 ms,
    with a ``no-scan`` floor row: the same model with a scan that costs nothing and dense
    feed-forward products, i.e. the time of its convolutions, dense layers, normalisation
    and dropout, which bounds the speed-up any neuron scan alone can give;
(d) ``sweep``: the same encoder with every population's threshold set so that it fires at
    1, 4, 10 and 30 % of its entries per step (:mod:`.density`; at initialisation the nerve
    fires at about 30 % and the cortex at 12 %, where 20 Hz would be 4 %).

Where the ``cpu`` back-end runs its feed-forward products of spikes event-driven
(:mod:`sparse.neurons.backends.spike_linear`), a ``cpu-dense`` row times it with dense
products instead: the ``cpu`` back-end as it was before them.

Batch 8, 1500 steps on CUDA and 300 on CPU by default (``--steps`` overrides).
Memory: on CUDA the peak of ``torch.cuda.max_memory_allocated`` during the step; on
CPU, where PyTorch keeps no allocator statistics, the size of the tensors saved for
backward (unique storages), which is what BPTT holds between the passes. On CPU, lines
under the table give the CPU seconds (user + system, all threads) per step: threads
that spin while idle, or more threads than asked for, show there and not in the wall time.
Rows for snnTorch / SpikingJelly layers are added when those packages are installed and
work (:mod:`.peers`; ``--no-peers`` leaves them out).

Examples
--------
``python -m sparse.bench --steps 100 --repeats 2``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor

from ..neurons import engine
from ..neurons.backends import spike_linear
from ..neurons.modules import AdLIFNeurons
from ..neurons.state import AdLIFState, ScanResult
from .density import SWEEP, calibrate_thresholds, spike_densities, sweep_label
from .peers import peer_rows

__all__ = ["DENSE_PRODUCTS", "FLOOR", "measure", "run_engine", "table_rows", "workloads"]

Step = Callable[[], None]

#: Name of the floor row: the encoder workload with a scan that costs nothing.
FLOOR = "no-scan"

#: Name of the row of the ``cpu`` back-end with dense feed-forward products.
DENSE_PRODUCTS = "cpu-dense"


@contextmanager
def _saved_bytes(counter: list[int]):
    """Count the bytes of unique storages saved for backward inside the block."""
    seen: set[int] = set()

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            counter[0] += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Step, device: torch.device, cpu: list[float] | None = None) -> float:
    """Wall seconds of one step; appends the process's CPU seconds (all threads) to ``cpu``."""
    c0, t0 = time.process_time(), time.perf_counter()
    step()
    _sync(device)
    if cpu is not None:
        cpu.append(time.process_time() - c0)
    return time.perf_counter() - t0


def _memory(step: Step, device: torch.device) -> float:
    """Memory of one fwd+bwd step in MiB (see module docstring)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        _sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    counter = [0]
    with _saved_bytes(counter):
        step()
    return counter[0] / 2**20


def _maker(factory: Callable[[str], Step], name: str) -> Step:
    """The step of row ``name``: ``factory(name)``, or the ``cpu`` one with dense products."""
    if name == DENSE_PRODUCTS:
        return _dense_products(factory("cpu"))
    return factory(name)


def measure(makers: dict[str, Callable[[], Step]], device: torch.device, repeats: int,
            cpu_seconds: dict[str, float] | None = None,
            steps_out: dict[str, Step] | None = None) -> dict[str, tuple[float, float]]:
    """Median seconds of one fwd+bwd step and its memory in MiB, per entry of ``makers``.

    The repeats of the different entries are interleaved, so that a change of machine
    load affects all of them alike and their ratios stay meaningful. ``cpu_seconds``, when
    given, receives the median CPU seconds (user + system, all threads) of each step;
    ``steps_out`` the steps themselves.
    """
    steps = {name: make() for name, make in makers.items()}
    if steps_out is not None:
        steps_out.update(steps)
    times: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        _timed(step, device)  # warm-up (allocations, kernel compilation)
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(_timed(step, device, cpu[name]))
    if cpu_seconds is not None:
        cpu_seconds.update({name: statistics.median(cpu[name]) for name in steps})
    return {name: (statistics.median(times[name]), _memory(step, device))
            for name, step in steps.items()}


def _layer_step(layer: torch.nn.Module, x: Tensor) -> Step:
    grad = torch.randn_like(x)

    def step() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        spikes = layer(x)
        spikes.backward(grad)

    return step


def workloads(batch: int, steps: int, device: torch.device) -> dict[str, Callable[[str], Step]]:
    """Factories ``backend name -> fwd+bwd closure`` of the benchmark workloads: ``lif``,
    ``radlif``, ``encoder`` and the sweep's ``encoder@1%`` ... (:data:`.density.SWEEP`)."""

    def lif(backend: str) -> Step:
        torch.manual_seed(0)
        layer = AdLIFNeurons(1184, sfa_portion=0.0, rnn_portion=0.0, dt=2.0,
                             backend=backend).to(device)
        x = (torch.rand(batch, steps, 1184, device=device) * 1.2).requires_grad_()
        return _layer_step(layer, x)

    def radlif(backend: str) -> Step:
        torch.manual_seed(0)
        layer = AdLIFNeurons(512, sfa_portion=0.5, rnn_portion=0.5, use_lateral_rnn=False,
                             dt=2.0, backend=backend).to(device)
        x = (torch.rand(batch, steps, 512, device=device) * 1.2).requires_grad_()
        return _layer_step(layer, x)

    def encoder(backend: str, density: float | None = None) -> Step:
        from ..encoders import ASREncoder

        torch.manual_seed(0)
        model = ASREncoder(dt=2.0, backend=backend).to(device).train()
        feats = torch.randn(batch, steps, 80, device=device)
        if density is not None:
            for neurons, value in zip(model.populations().values(), thresholds(density),
                                      strict=True):
                neurons.threshold = value

        def step() -> None:
            model.zero_grad(set_to_none=True)
            out, spikes = model(feats, return_spikes=True)
            (out.sum() + sum(s.sum() for s in spikes) * 1e-3).backward()

        step.densities = lambda: spike_densities(model, feats)
        return step

    calibrated: dict[float, list[float]] = {}

    def thresholds(density: float) -> list[float]:
        """Thresholds for ``density``, searched once on the first two utterances."""
        if density not in calibrated:
            from ..encoders import ASREncoder

            torch.manual_seed(0)
            name = "cpu" if "cpu" in engine.BACKENDS else "reference"
            model = ASREncoder(dt=2.0, backend=name).to(device).train()
            feats = torch.randn(batch, steps, 80, device=device)[:2]
            calibrated[density] = calibrate_thresholds(model, feats, density)
        return calibrated[density]

    out = {"lif": lif, "radlif": radlif, "encoder": encoder}
    for density in SWEEP:
        out[sweep_label(density)] = lambda backend, density=density: encoder(backend, density)
    return out


def _dense_products(step: Step) -> Step:
    """``step`` with the event-driven products of the ``cpu`` back-end turned off."""

    def dense() -> None:
        with spike_linear.event_driven(False):
            step()

    dense.densities = getattr(step, "densities", None)
    return dense


class _StraightThrough(torch.autograd.Function):
    """Spikes ``x > 1`` whose gradient passes straight through: a scan that costs nothing."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: D102
        return (x > 1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: D102
        return grad


def _no_scan(x: Tensor, p, recurrent=None, state=None, **kwargs) -> ScanResult:
    last = x[:, -1]
    return ScanResult(_StraightThrough.apply(x), AdLIFState(last, last, last), None, None)


def table_rows(workload: str, results: dict[str, tuple[float, float]],
               reference: str = "reference") -> list[str]:
    """Markdown rows ``| workload | backend | s | MiB | speed-up |`` of one workload.

    ``results`` maps back-end names to ``(seconds, MiB)``; the speed-up of a row is the
    time of ``reference`` divided by the row's time.

    Examples
    --------
    >>> table_rows("lif", {"reference": (0.5, 3.0), "cpu": (0.1, 1.0)})[1]
    '| lif | cpu | 0.1000 | 1.0 | 5.0x |'
    """
    ref_time = results[reference][0]
    return [f"| {workload} | {name} | {t:.4f} | {mem:.1f} | {ref_time / t:.1f}x |"
            for name, (t, mem) in results.items()]


def run_engine(argv: Sequence[str]) -> None:
    """``engine`` subcommand: print the timing table."""
    parser = argparse.ArgumentParser(prog="python -m sparse.bench engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=None,
                        help="time steps (default 1500 on CUDA, 300 on CPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default=None,
                        help="comma-separated back-ends (default: all available)")
    parser.add_argument("--workloads", default="lif,radlif,encoder,sweep",
                        help="comma-separated; 'sweep' stands for the encoder@density rows")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-peers", action="store_true",
                        help="skip the snnTorch / SpikingJelly rows")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps or (1500 if device.type == "cuda" else 300)
    threads = torch.get_num_threads()
    names = (args.backends.split(",") if args.backends
             else [n for n in engine.BACKENDS if engine.BACKENDS[n].available(device)])
    if "reference" in names:
        names.remove("reference")
    names.insert(0, "reference")
    print(f"# device={device} batch={args.batch} steps={steps} repeats={args.repeats} "
          f"threads={threads} torch={torch.__version__} "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'unset')}")
    mem_label = "peak MiB" if device.type == "cuda" else "saved MiB"
    print(f"| workload | backend | fwd+bwd s | {mem_label} | speed-up vs reference |")
    print("|---|---|---:|---:|---:|")
    factories = workloads(args.batch, steps, device)
    floor = engine.Backend(FLOOR, _no_scan, lambda device: True)
    events = "cpu" in names and spike_linear.load_spike_kernels() is not None
    cpu_lines: list[str] = []  # threads that spin or oversubscribe show here, not in wall time
    selected = []
    for wl in args.workloads.split(","):
        selected += [sweep_label(d) for d in SWEEP] if wl == "sweep" else [wl]
    with engine.registered_backend(floor):
        for wl in selected:
            row_names = list(names)
            if events:
                row_names.insert(row_names.index("cpu"), DENSE_PRODUCTS)
            row_names += [FLOOR] if wl == "encoder" else []
            makers = {name: (lambda wl=wl, name=name: _maker(factories[wl], name))
                      for name in row_names}
            cpu: dict[str, float] = {}
            steps_seen: dict[str, Step] = {}
            for row in table_rows(wl, measure(makers, device, args.repeats, cpu, steps_seen)):
                print(row, flush=True)
            cpu_lines.append(f"# {wl}: CPU s per step (user+sys, all threads): "
                             + ", ".join(f"{name} {c:.4f}" for name, c in cpu.items()))
            densities = getattr(steps_seen.get("cpu", steps_seen[names[0]]), "densities", None)
            if densities is not None:
                cpu_lines.append(f"# {wl}: share of active entries per population (nerve, "
                                 "cortex...): " + ", ".join(f"{100 * d:.1f} %"
                                                           for d in densities()))
    if "encoder" in selected:
        print(f"# {FLOOR}: the encoder with a zero-cost neuron scan (straight-through threshold) "
              "and dense products, the bound of any neuron scan's speed-up on this machine")
    if events:
        print(f"# {DENSE_PRODUCTS}: the cpu back-end with dense feed-forward products (as before "
              "the event-driven ones)")
    if device.type == "cpu":
        print("\n".join(cpu_lines))
        if torch.get_num_threads() != threads:
            print(f"# torch threads changed during the run: {threads} -> {torch.get_num_threads()}")
    if not args.no_peers:
        rows = peer_rows(args.batch, steps, device)
        for label, (t, mem) in measure(rows, device, args.repeats).items():
            print(f"| {label} | - | {t:.4f} | {mem:.1f} | - |", flush=True)
