"""Typed containers for neuron parameters, states and scan results.

All tensors are batch-first. ``N`` is the number of neurons of a layer.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = ["AdLIFParameters", "AdLIFState", "ScanResult", "NeuronConstants"]


class AdLIFParameters(NamedTuple):
    """Per-step constants of an adaptive LIF population (shared by SPARSE and SpArch).

    Attributes
    ----------
    alpha : Tensor
        ``(N,)`` membrane decay per step, ``exp(-dt / tau_u)`` (SPARSE) or trained directly
        (SpArch).
    beta : Tensor
        ``(N,)`` adaptation decay per step, ``exp(-dt / tau_w)``.
    a : Tensor
        ``(N,)`` sub-threshold coupling of the adaptation variable to the membrane potential.
    b : Tensor
        ``(N,)`` spike-triggered adaptation increment.
    threshold : float
        Firing threshold ``theta`` (dimensionless, same units as ``u``).
    """

    alpha: Tensor
    beta: Tensor
    a: Tensor
    b: Tensor
    threshold: float = 1.0


class AdLIFState(NamedTuple):
    """State at one step: membrane ``u``, adaptation ``w`` and spikes ``s``, each ``(B, N)``."""

    u: Tensor
    w: Tensor
    s: Tensor


class ScanResult(NamedTuple):
    """Output of a scan over ``T`` steps.

    Attributes
    ----------
    spikes : Tensor
        ``(B, T, N)`` binary spikes (float 0/1).
    state : AdLIFState
        Final state, each ``(B, N)``, for streaming or chunked processing.
    u, w : Tensor or None
        ``(B, T, N)`` membrane and adaptation traces, only when requested.
    """

    spikes: Tensor
    state: AdLIFState
    u: Tensor | None = None
    w: Tensor | None = None


class NeuronConstants(NamedTuple):
    """Constrained neuron parameters in physical units, as used by the forward pass.

    ``tau_u`` and ``tau_w`` in ms, ``a`` and ``b`` dimensionless, each ``(N,)``.
    LIF neurons (``sfa_mask == 0``) have ``a = b = 0``.
    """

    tau_u: Tensor
    tau_w: Tensor
    a: Tensor
    b: Tensor
