"""The spiking-network protocol: what every spiking model says about itself.

Consumers of a model (operation counts in :mod:`sparse.efficiency`, the analysis recordings of
:mod:`sparse.analysis.recording`, inference, export, streaming) ask the model, never test its
class or hook its submodules. A :class:`SpikingNetwork` states

* ``dt``: its step in ms (the one source of the time step), and ``spike_lag``: the steps by
  which its spike trains lag the input frames (step ``t + spike_lag`` is centred on frame
  ``t``);
* ``population_names`` and :meth:`~SpikingNetwork.network`: its populations (name, size, which
  neurons are LIF and which adaptive, or non-spiking integrators), its projections (synapses
  from a population or the input to a population, for synaptic-operation counts) and its dense,
  non-spiking stages;
* :meth:`~SpikingNetwork.initial_state` and :meth:`~SpikingNetwork.stream`: the forward pass
  taking a state and returning it. ``stream(x)`` alone (no state, ``end=True``) is the offline
  forward; feeding a recording in chunks, each call with the state the previous one returned
  and the last with ``end=True``, gives the same spikes and outputs, bit for bit, concatenated
  over the chunks (in inference: no gradient, CPU; see :mod:`sparse.neurons.framewise`).

Implemented by :class:`~sparse.ASREncoder`, :class:`~sparse.KWSEncoder`,
:class:`~sparse.MultilayeredSpiking` and the SpArch :class:`~sparse.SNN`.
:func:`set_backend` switches the neuron back-end of a whole model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from . import engine

__all__ = ["Population", "Projection", "DenseStage", "Network", "Streamed", "SpikingNetwork",
           "projection", "adaptive_population", "set_backend", "unwrap"]


@dataclass(frozen=True)
class Population:
    """A group of neurons updated every step: ``lif + adlif + integrator`` neurons.

    ``adaptive`` ``(N,)`` bool says which neurons adapt (``None``: the first ``lif`` are LIF,
    the rest adaptive); integrators (non-spiking readouts) emit no spikes.
    """

    name: str
    lif: int = 0
    adlif: int = 0
    integrator: int = 0
    adaptive: Tensor | None = None

    @property
    def size(self) -> int:
        """Number of neurons."""
        return self.lif + self.adlif + self.integrator

    @property
    def spiking(self) -> bool:
        """Whether the population emits spikes (LIF or adaptive neurons)."""
        return self.lif + self.adlif > 0

    def adaptive_mask(self) -> Tensor:
        """``(N,)`` bool: which neurons adapt."""
        if self.adaptive is not None:
            return self.adaptive.detach().bool().cpu()
        return torch.arange(self.size) >= self.lif


@dataclass(frozen=True)
class Projection:
    """Synapses from ``source`` (a population, or ``"input"``) to ``target``.

    ``fan_out`` ``(N_source,)``: effective synapses leaving each source neuron (non-zero
    masked weights, times the number of times the projection is applied per step);
    ``dense_synapses``: the same connection as a full matrix (times the same number).
    """

    source: str
    target: str
    fan_out: Tensor
    dense_synapses: int


@dataclass(frozen=True)
class DenseStage:
    """A non-spiking layer costing ``macs_per_step`` MACs per simulation step (on average)."""

    name: str
    macs_per_step: float


@dataclass(frozen=True)
class Network:
    """Populations, projections and dense stages of a model, in network order.

    ``output_steps``: simulation steps per output frame (the ASR encoder's pooling window),
    for stages that run at the output rate (a recipe's classifier).
    """

    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    dense: tuple[DenseStage, ...] = ()
    output_steps: int = 1


class Streamed(NamedTuple):
    """What one call of :meth:`SpikingNetwork.stream` produced.

    Attributes
    ----------
    output : Tensor
        The model's output for the steps of this call (see each model's ``stream``): ASR
        phoneme features of the CTC frames completed, KWS and SpArch readout potentials
        per step, the last layer's spikes of a ``MultilayeredSpiking``.
    spikes : list of Tensor
        ``(B, n, N_i)`` spikes of every spiking population, in network order, for the ``n``
        steps completed by this call.
    state : Any
        What the next call continues from (a NamedTuple of tensors).
    """

    output: Tensor
    spikes: list[Tensor]
    state: Any


@runtime_checkable
class SpikingNetwork(Protocol):
    """A spiking model (see the module docstring)."""

    dt: float

    @property
    def spike_lag(self) -> int:
        """Steps by which the spikes lag the input frames."""

    @property
    def population_names(self) -> list[str]:
        """The spiking populations, in network order (the order of ``Streamed.spikes``)."""

    def network(self) -> Network:
        """Populations, projections and dense stages."""

    def initial_state(self, batch: int) -> Any:
        """The state before the first step, for ``batch`` sequences."""

    def stream(self, x: Tensor, state: Any = None, *, end: bool = True) -> Streamed:
        """The next steps: input ``x`` ``(B, T, F)`` from ``state`` (``None``: initial)."""


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` wrapper (itself otherwise)."""
    return getattr(model, "module", model)


def projection(source: str, target: str, weight: Tensor, copies: int = 1) -> Projection:
    """The :class:`Projection` of an effective weight ``(out, in)`` applied ``copies`` times.

    Examples
    --------
    >>> p = projection("a", "b", torch.tensor([[1.0, 0.0], [2.0, 0.0]]))
    >>> p.fan_out.tolist(), p.dense_synapses
    ([2.0, 0.0], 4)
    """
    w = weight.detach()
    fan_out = (w != 0).sum(dim=0).to(torch.float64).cpu() * copies
    return Projection(source, target, fan_out, int(w.numel()) * copies)


def adaptive_population(name: str, adaptive: Tensor) -> Population:
    """A spiking :class:`Population` whose ``(N,)`` bool mask says which neurons adapt."""
    mask = adaptive.detach().bool().cpu()
    n_adaptive = int(mask.sum())
    return Population(name, lif=mask.numel() - n_adaptive, adlif=n_adaptive, adaptive=mask)


def set_backend(model: nn.Module, name: str) -> nn.Module:
    """Run every neuron population of ``model`` with the back-end ``name``; returns ``model``.

    Every submodule that scans neurons has a ``backend`` attribute (the populations, the
    SpArch layers, the readouts): all are set, after one check of the name.

    Examples
    --------
    >>> from sparse import KWSEncoder
    >>> model = set_backend(KWSEncoder(num_mel_bins=20, cortex_layer_sizes=[8],
    ...     cortex_feedforward_portions=[1], cortex_sfa_portions=[.5],
    ...     cortex_rnn_portions=[.5], readout_features=3), "reference")
    >>> sorted({m.backend for m in model.modules() if hasattr(m, "backend")})
    ['reference']
    """
    engine.check_backend(name)
    for module in model.modules():
        if isinstance(getattr(module, "backend", None), str):
            module.backend = name
    return model
