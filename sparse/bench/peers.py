"""Peer rows of the engine benchmark: the LIF layers of snnTorch and SpikingJelly.

Each row stands for workload (a), a non-recurrent LIF population of 1184 units, and is
optional: a library that is missing, fails to import, or whose API has changed (e.g.
SpikingJelly 2.0 dropped ``LIFNode(backend=...)``) is skipped with one printed line
saying why, so that the benchmark never stops for a peer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

__all__ = ["PEERS", "peer_rows"]

Step = Callable[[], None]


def snntorch_lif(batch: int, steps: int, device: torch.device) -> Step:
    """``snntorch.Leaky`` (subtractive reset) stepped over time in Python, as its users do."""
    import snntorch

    neuron = snntorch.Leaky(beta=0.8, threshold=1.0, reset_mechanism="subtract").to(device)
    x = (torch.rand(steps, batch, 1184, device=device) * 1.2).requires_grad_()

    def step() -> None:
        mem = neuron.init_leaky()
        out = []
        for t in range(steps):
            spk, mem = neuron(x[t], mem)
            out.append(spk)
        torch.stack(out).sum().backward()

    return step


def spikingjelly_lif(batch: int, steps: int, device: torch.device) -> Step:
    """SpikingJelly's multi-step ``LIFNode`` (its Triton back-end on CUDA where it has one)."""
    from spikingjelly.activation_based import neuron as sj_neuron

    kwargs = dict(tau=5.0, v_reset=None, step_mode="m")
    if "backend" in inspect.signature(sj_neuron.LIFNode).parameters:  # before SpikingJelly 2.0
        kwargs["backend"] = "triton" if device.type == "cuda" else "torch"
    node = sj_neuron.LIFNode(**kwargs).to(device)
    x = (torch.rand(steps, batch, 1184, device=device) * 1.2).requires_grad_()

    def step() -> None:
        node.reset()
        node(x).sum().backward()

    return step


#: Row label -> factory ``(batch, steps, device) -> fwd+bwd closure``.
PEERS: dict[str, Callable[[int, int, torch.device], Step]] = {
    "lif/snntorch": snntorch_lif,
    "lif/spikingjelly": spikingjelly_lif,
}


def peer_rows(batch: int, steps: int, device: torch.device,
              report: Callable[[str], None] = print) -> dict[str, Callable[[], Step]]:
    """The peer rows that build and run one step here; ``report`` says why the others do not.

    Returns makers in the form :func:`sparse.bench.engine.measure` takes.
    """
    rows: dict[str, Callable[[], Step]] = {}
    for label, factory in PEERS.items():
        try:
            step = factory(batch, steps, device)
            step()  # a peer that builds but fails to run is skipped too
        except ImportError as err:
            report(f"# {label} skipped: not installed or not importable ({err})")
        except Exception as err:  # noqa: BLE001 - a broken peer must not stop the benchmark
            report(f"# {label} skipped: {type(err).__name__}: {err}")
        else:
            rows[label] = lambda step=step: step
    return rows
