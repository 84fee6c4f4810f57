"""Fast neuron back-ends, registered into :mod:`sparse.neurons.engine` on import.

* ``"cpu"``: hand-written BPTT (entry point :mod:`.cpu`); on CPU tensors its loops are
  compiled with Numba (:mod:`.cpu_compiled`, :mod:`.cpu_kernels`), elsewhere an
  allocation-free eager loop runs (:mod:`.cpu_eager`); runs anywhere, preferred by
  ``"auto"`` off CUDA. The non-spiking readout scan is :mod:`.leaky`. Its feed-forward
  products of spikes (``engine.feedforward``) are event-driven (:mod:`.spike_linear`
  around the Numba loops of :mod:`.spike_kernels`).
* ``"triton"``: fused scan kernels (:mod:`.triton_ops`); CUDA only, preferred by
  ``"auto"`` on CUDA. Triton is imported on the first call only, so the package
  imports and runs without it, and the ``"reference"``/``"cpu"`` paths never touch it.

Resulting ``"auto"`` order: ``triton`` (CUDA with Triton), ``cpu``, ``reference``.
Both share :mod:`.common` (argument checks, initial states, step views) and
:mod:`.gradients` (the adjoint recursion and the parameter gradients);
:mod:`.testing` holds the oracle comparison every back-end must pass.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import Tensor

from ..engine import Backend, register_backend
from ..state import ScanResult
from . import cpu, leaky, spike_linear

__all__ = ["triton_available"]


def triton_available(device: torch.device) -> bool:
    """Whether the Triton back-end can run on ``device`` (CUDA and an installed ``triton``)."""
    if torch.device(device).type != "cuda":
        return False
    return importlib.util.find_spec("triton") is not None and torch.cuda.is_available()


def _triton_adlif(*args, **kwargs) -> ScanResult:
    from . import triton_ops  # lazy: imports triton

    return triton_ops.adlif_scan_triton(*args, **kwargs)


def _triton_leaky(*args, **kwargs) -> Tensor:
    from . import triton_ops  # lazy: imports triton

    return triton_ops.leaky_integrator_scan_triton(*args, **kwargs)


register_backend(
    Backend("cpu", cpu.adlif_scan_cpu, cpu.available, leaky.leaky_integrator_scan_cpu,
            spike_linear.feedforward_cpu), prefer=True
)
register_backend(Backend("triton", _triton_adlif, triton_available, _triton_leaky), prefer=True)
