"""sparse: spiking neural network speech encoders for SpeechBrain.

Re-implements SPARSE (Bittar & Garner, 2024, doi:10.3389/fnins.2024.1449181) and
SpArch (Bittar & Garner, 2022, doi:10.3389/fnins.2022.865897).
"""

from .encoders import ASREncoder, KWSEncoder, MultilayeredSpiking, SpikingFCLayer
from .models import ANN, SNN
from .neurons import AdLIFNeurons, ReadoutLayer, SpikingNeurons
from .regularization import firing_rate_penalty, firing_rates

__version__ = "0.1.0"


class SparseArray:
    """Never instantiated: a guard for libraries that mistake this package for pydata ``sparse``.

    SciPy's array-API layer looks up ``sys.modules["sparse"].SparseArray`` (pydata's sparse
    arrays share our import name) and fails with ``AttributeError`` without it; since no
    object is an instance of this class, every such check correctly answers "not sparse".
    """

__all__ = [
    "ASREncoder", "AdLIFNeurons", "KWSEncoder", "MultilayeredSpiking", "ReadoutLayer",
    "SpikingFCLayer", "SpikingNeurons", "SNN", "ANN", "firing_rate_penalty", "firing_rates",
    "__version__",
]
