"""Typed containers for neuron parameters, states and scan results.

All tensors are batch-first. ``N`` is the number of neurons of a layer.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = ["AdLIFConfig", "AdLIFParameters", "AdLIFState", "ScanResult", "NeuronConstants"]


class AdLIFConfig(NamedTuple):
    """How a population of SPARSE AdLIF neurons is built and run, besides its size and wiring.

    One object travels from an encoder's constructor down to every population it builds (the
    families of :mod:`sparse.neurons.defaults` are instances); constructors still accept each
    field as a keyword argument, as YAML files write them.

    Attributes
    ----------
    tauu_lim, tauw_lim : (float, float)
        Membrane and adaptation time-constant ranges, in ms.
    a_lim, b_lim : (float, float)
        Ranges of the sub-threshold coupling ``a`` and the spike-triggered increment ``b``.
    use_normal_init : bool
        Normal (True) or uniform (False) initialisation within the ranges.
    threshold : float
        Firing threshold.
    dt : float
        Step size in ms (the feature hop: one input frame per step).
    surrogate : str
        Surrogate gradient name (:data:`sparse.neurons.surrogate.SURROGATES`).
    backend : str
        Engine back-end (``"auto"``, ``"reference"``, ``"cpu"``, ``"triton"``).
    """

    tauu_lim: tuple[float, float]
    tauw_lim: tuple[float, float]
    a_lim: tuple[float, float]
    b_lim: tuple[float, float]
    use_normal_init: bool
    threshold: float
    dt: float
    surrogate: str = "boxcar"
    backend: str = "auto"


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
