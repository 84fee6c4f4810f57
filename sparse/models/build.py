"""SpArch networks by name: ``build_model("RadLIF", ...)`` for ``!apply:`` in recipe YAML."""

from __future__ import annotations

from ..neurons.defaults import BACKEND, SPARCH
from .anns import ANN, ANN_TYPES
from .sparch import NEURON_TYPES, SNN

__all__ = ["MODEL_TYPES", "layer_sizes", "build_model"]

#: Accepted ``model_type`` values (SpArch's ``--model_type``).
MODEL_TYPES = tuple(NEURON_TYPES) + tuple(ANN_TYPES)


def layer_sizes(nb_layers: int, nb_hiddens: int, nb_outputs: int) -> list[int]:
    """SpArch's ``[nb_hiddens] * (nb_layers - 1) + [nb_outputs]`` (``nb_layers`` incl. readout).

    Examples
    --------
    >>> layer_sizes(3, 128, 20)
    [128, 128, 20]
    """
    if nb_layers < 2:
        raise ValueError(f"nb_layers counts the readout and must be >= 2, got {nb_layers}")
    return [int(nb_hiddens)] * (int(nb_layers) - 1) + [int(nb_outputs)]


def build_model(
    model_type: str,
    nb_inputs: int,
    nb_outputs: int,
    nb_layers: int = 3,
    nb_hiddens: int = 128,
    dropout: float = 0.1,
    normalization: str = "batchnorm",
    use_bias: bool = False,
    bidirectional: bool = False,
    threshold: float = 1.0,
    backend: str = BACKEND,
    dt: float = SPARCH.dt,
) -> SNN | ANN:
    """The ``SNN`` or ``ANN`` of a SpArch ``model_type`` (for ``!apply:`` in recipe YAML).

    ``dt`` (ms per step) scales the spiking models' firing rates to Hz and is every model's
    time step at inference.

    Examples
    --------
    >>> build_model("RadLIF", 40, 35, nb_hiddens=8).layer_sizes
    [8, 8, 35]
    """
    sizes = layer_sizes(nb_layers, nb_hiddens, nb_outputs)
    shape = (1, 1, int(nb_inputs))
    if model_type in NEURON_TYPES:
        return SNN(shape, sizes, model_type, threshold, dropout, normalization, use_bias,
                   bidirectional, True, backend, dt)
    if model_type in ANN_TYPES:
        return ANN(shape, sizes, model_type, dropout, normalization, use_bias, bidirectional, True,
                   dt)
    raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
