"""SpArch baselines (Bittar & Garner, 2022): spiking ``SNN`` and non-spiking ``ANN``.

No module here imports SpeechBrain at import time or any recipe code; their training lives in
:mod:`sparse.recipe.sparch`.
"""

from .anns import ANN, GRULayer, LiGRULayer, MLPLayer, ReadoutLayerANN, RNNLayer
from .build import MODEL_TYPES, build_model, layer_sizes
from .sparch import SNN, AdLIFLayer, LIFLayer, RadLIFLayer, RLIFLayer, SpArchLayer, adLIFLayer

__all__ = ["ANN", "SNN", "MODEL_TYPES", "build_model", "layer_sizes", "AdLIFLayer", "GRULayer",
           "LIFLayer", "LiGRULayer", "MLPLayer", "RLIFLayer", "RNNLayer", "RadLIFLayer",
           "ReadoutLayerANN", "SpArchLayer", "adLIFLayer"]
