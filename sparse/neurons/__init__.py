"""Spiking neuron dynamics: pure functions, the scan engine and ``nn.Module`` wrappers."""

from . import backends  # noqa: F401  (registers the "cpu" and "triton" back-ends)
from .engine import adlif, leaky_integrator
from .functional import adlif_scan, adlif_step, leaky_integrator_scan, lif_scan, sparch_step
from .modules import AdLIFNeurons, ReadoutLayer, SpikingNeurons, connection_mask
from .state import AdLIFParameters, AdLIFState, NeuronConstants, ScanResult
from .surrogate import spike

__all__ = [
    "AdLIFNeurons", "AdLIFParameters", "AdLIFState", "NeuronConstants", "ReadoutLayer",
    "ScanResult", "SpikingNeurons", "adlif", "adlif_scan", "adlif_step", "connection_mask",
    "leaky_integrator", "leaky_integrator_scan", "lif_scan", "sparch_step", "spike",
]
