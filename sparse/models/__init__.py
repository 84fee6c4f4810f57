"""SpArch baselines (Bittar & Garner, 2022): spiking ``SNN`` and non-spiking ``ANN``."""

from .anns import ANN, GRULayer, LiGRULayer, MLPLayer, ReadoutLayerANN, RNNLayer
from .sparch import SNN, AdLIFLayer, LIFLayer, RadLIFLayer, RLIFLayer, SpArchLayer, adLIFLayer

__all__ = ["ANN", "SNN", "AdLIFLayer", "GRULayer", "LIFLayer", "LiGRULayer", "MLPLayer",
           "RLIFLayer", "RNNLayer", "RadLIFLayer", "ReadoutLayerANN", "SpArchLayer", "adLIFLayer"]
