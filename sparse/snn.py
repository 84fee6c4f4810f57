"""Upstream SPARSE import path ``sparse.snn``: aliases of the real layout."""

from .encoders.multilayer import MultilayeredSpiking, SpikingFCLayer
from .neurons.modules import ReadoutLayer, SpikingNeurons, connection_mask

init_connection_mask = connection_mask

__all__ = ["MultilayeredSpiking", "ReadoutLayer", "SpikingFCLayer", "SpikingNeurons",
           "init_connection_mask"]
