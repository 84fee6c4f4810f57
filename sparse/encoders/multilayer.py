"""Layers of SPARSE cortex: masked feed-forward weights, normalisation and AdLIF neurons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import as_list, check_input, check_portion, check_rank3
from ..neurons import engine
from ..neurons.defaults import CORTEX, adlif_config
from ..neurons.modules import AdLIFNeurons, apply_norm, connection_mask, make_norm
from ..neurons.network import Network, Streamed, adaptive_population, projection
from ..neurons.state import AdLIFConfig, AdLIFState, ScanResult

__all__ = ["SpikingFCLayer", "MultilayeredSpiking"]


class SpikingFCLayer(nn.Module):
    """One cortical layer: ``(B, T, I) -> (B, T, O)`` spikes.

    ``dropout(x) -> I = (W * ff_mask) x + bias -> norm over (B*T, O) -> AdLIFNeurons``.
    The feed-forward mask (density ``ff_portion``, drawn as in
    :func:`~sparse.neurons.modules.connection_mask`) is a buffer and is only
    created when ``ff_portion < 1``. The neuron arguments (``neuron`` or one by one, defaults
    of the ``CORTEX`` family) go to :class:`~sparse.neurons.modules.AdLIFNeurons` (the
    neurons' own dropout is 0).
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        sfa_portion: float = 0.5,
        rnn_portion: float = 0.3,
        ff_portion: float = 0.3,
        use_lateral_rnn: bool = False,
        use_bias: bool = True,
        normalization: str = "batchnorm",
        dropout: float = 0.0,
        neuron: AdLIFConfig | Mapping[str, Any] | None = None,
        **neuron_args: Any,
    ) -> None:
        super().__init__()
        check_portion("ff_portion", ff_portion)
        check_portion("dropout", dropout)
        config = adlif_config(CORTEX, neuron, neuron_args, owner=type(self).__name__)
        self.input_size, self.output_size = int(input_size), int(output_size)
        self.dropout = nn.Dropout(dropout)
        self.W = nn.Linear(self.input_size, self.output_size, bias=use_bias)
        mask = None
        if ff_portion != 1.0:
            mask = connection_mask(self.input_size, self.output_size, ff_portion)
        self.register_buffer("ff_mask", mask)
        self.norm = make_norm(normalization, self.output_size)
        self.neurons = AdLIFNeurons(
            self.output_size, sfa_portion=sfa_portion, rnn_portion=rnn_portion,
            use_lateral_rnn=use_lateral_rnn, dropout=0.0, neuron=config,
        )

    def feedforward_weights(self) -> Tensor:
        """Masked feed-forward matrix ``(O, I)``."""
        w = self.W.weight
        return w if self.ff_mask is None else w * self.ff_mask

    def effective_weights(self) -> tuple[Tensor, Tensor | None]:
        """``(W, V)``: masked feed-forward ``(O, I)`` and recurrent ``(O, O)`` (or ``None``)."""
        return self.feedforward_weights(), self.neurons.recurrent_weights()

    def currents(self, x: Tensor) -> Tensor:
        """Normalised input currents ``(B, T, O)``: the time-parallel part of the layer.

        Each step's current depends on that step's input only, bit for bit, without a gradient
        (:func:`sparse.neurons.engine.feedforward`), so that chunks of a stream sum as the whole
        does.
        """
        check_rank3(x, type(self).__name__)
        current = engine.feedforward(x, self.feedforward_weights(), self.W.bias,
                                     dropout=self.dropout.p, training=self.dropout.training,
                                     backend=self.neurons.backend)
        return apply_norm(self.norm, current)

    @torch.no_grad()
    def project_parameters_(self) -> None:
        """Zero masked feed-forward weights and clamp the neurons' parameters in place."""
        if self.ff_mask is not None:
            self.W.weight.mul_(self.ff_mask)
        self.neurons.project_parameters_()

    def initial_state(self, batch: int) -> AdLIFState:
        """The neurons' state before the first step (zeros), ``(batch, O)`` each."""
        return self.neurons.initial_state(batch)

    def forward(
        self, x: Tensor, state: AdLIFState | None = None, return_state: bool = False
    ) -> Tensor | ScanResult:
        """Spikes ``(B, T, O)`` for input ``x`` ``(B, T, I)``, from ``state`` (default zeros);
        with ``return_state`` the :class:`~sparse.neurons.state.ScanResult` (final state too)."""
        return self.neurons(self.currents(x), state, return_state)


class MultilayeredSpiking(nn.Module):
    """Stack of :class:`SpikingFCLayer`: ``(B, T, input_size) -> (B, T, layer_sizes[-1])`` spikes.

    Every per-layer argument (``sfa_portions``, ``rnn_portions``, ``ff_portions``
    and ``use_lateral_rnn``) is a list with one entry per layer
    (``use_lateral_rnn`` may also be one bool for all). A
    :class:`~sparse.neurons.network.SpikingNetwork`: populations ``layer1``, ``layer2``, ...;
    :meth:`stream` continues from a state.

    Parameters
    ----------
    input_size : int
        Input features ``I``.
    layer_sizes : list of int
        Neurons per layer.
    sfa_portions, rnn_portions, ff_portions : list of float
        Per-layer share of AdLIF neurons, recurrent and feed-forward densities, in ``[0, 1]``.
    return_all_spikes : bool
        Default for :meth:`forward`'s ``return_all``.
    neuron, **neuron_args
        The neuron arguments of every layer, as one
        :class:`~sparse.neurons.state.AdLIFConfig` (or a dict of some of its fields) or one
        by one (``tauu_lim``, ``tauw_lim``, ``a_lim``, ``b_lim``, ``use_normal_init``,
        ``threshold``, ``dt`` in ms, ``surrogate``, ``backend``); defaults of the ``CORTEX``
        family of :mod:`sparse.neurons.defaults`.
    Other arguments
        As :class:`SpikingFCLayer`.

    Examples
    --------
    >>> net = MultilayeredSpiking(20, [16, 8], [0.5, 0.5], [0.5, 0.5], [1.0, 0.5], dt=2.0)
    >>> x = (torch.rand(3, 50, 20) > 0.8).float()
    >>> net(x).shape
    torch.Size([3, 50, 8])
    >>> last, every = net(x, return_all=True)
    >>> [tuple(s.shape) for s in every]
    [(3, 50, 16), (3, 50, 8)]
    """

    def __init__(
        self,
        input_size: int,
        layer_sizes: Sequence[int] = (144, 144),
        sfa_portions: Sequence[float] = (0.3, 0.5),
        rnn_portions: Sequence[float] = (0.2, 0.3),
        ff_portions: Sequence[float] = (0.2, 0.3),
        use_lateral_rnn: bool | Sequence[bool] = False,
        dropout: float = 0.0,
        use_bias: bool = True,
        normalization: str = "batchnorm",
        return_all_spikes: bool = False,
        neuron: AdLIFConfig | Mapping[str, Any] | None = None,
        **neuron_args: Any,
    ) -> None:
        super().__init__()
        sizes = list(layer_sizes)
        if not sizes:
            raise ValueError("layer_sizes must list at least one layer")
        n = len(sizes)
        sfa = as_list("sfa_portions", list(sfa_portions), n)
        rnn = as_list("rnn_portions", list(rnn_portions), n)
        ff = as_list("ff_portions", list(ff_portions), n)
        lateral = as_list("use_lateral_rnn", use_lateral_rnn, n)
        config = adlif_config(CORTEX, neuron, neuron_args, owner=type(self).__name__)
        self.dt = config.dt
        self.return_all_spikes = return_all_spikes
        self.layer_sizes = sizes
        inputs = [int(input_size)] + sizes[:-1]
        self.layers = nn.ModuleList(
            SpikingFCLayer(
                inputs[i], sizes[i], sfa_portion=sfa[i], rnn_portion=rnn[i], ff_portion=ff[i],
                use_lateral_rnn=lateral[i], use_bias=use_bias, normalization=normalization,
                dropout=dropout, neuron=config,
            )
            for i in range(n)
        )

    # ---- the spiking-network protocol ------------------------------------------------------

    spike_lag = 0  # no convolution: step t is frame t

    @property
    def population_names(self) -> list[str]:
        """``layer1``, ``layer2``, ...: one population per layer."""
        return [f"layer{i + 1}" for i in range(len(self.layers))]

    def network(self) -> Network:
        """The input drives ``layer1``, each layer the next; recurrent layers drive themselves."""
        pops, projs, source = [], [], "input"
        for name, layer in zip(self.population_names, self.layers, strict=True):
            projs.append(projection(source, name, layer.feedforward_weights()))
            pops.append(adaptive_population(name, layer.neurons.sfa_mask))
            recurrent = layer.neurons.recurrent_weights()
            if recurrent is not None:
                projs.append(projection(name, name, recurrent))
            source = name
        return Network(tuple(pops), tuple(projs))

    def initial_state(self, batch: int) -> tuple[AdLIFState, ...]:
        """Every layer's neuron state before the first step (zeros)."""
        return tuple(layer.initial_state(batch) for layer in self.layers)

    def stream(self, x: Tensor, state: tuple[AdLIFState, ...] | None = None, *,
               end: bool = True) -> Streamed:
        """Spikes of the steps of ``x`` ``(B, T, I)`` (a checked input), from ``state``.

        ``output`` is the last layer's spikes, ``spikes`` every layer's, ``state`` the
        layers' final states; ``end`` changes nothing (each step's output is final at once).
        """
        if state is None:
            state = self.initial_state(x.shape[0])
        spikes, states = [], []
        for layer, layer_state in zip(self.layers, state, strict=True):
            out = layer(x, layer_state, return_state=True)
            x = out.spikes
            spikes.append(x)
            states.append(out.state)
        return Streamed(x, spikes, tuple(states))

    # ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def project_parameters_(self) -> None:
        """Project every layer's parameters onto their constraints (after an optimiser step)."""
        for layer in self.layers:
            layer.project_parameters_()

    def forward(
        self, x: Tensor, return_all: bool | None = None
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Last layer's spikes ``(B, T, O)``; with ``return_all`` also every layer's spikes.

        Raises
        ------
        ValueError, TypeError
            Unless ``x`` is a floating-point ``(batch, time, features)`` tensor without NaN.
        """
        check_input(x, type(self).__name__)
        spikes = self.layer_spikes(x)
        if self.return_all_spikes if return_all is None else return_all:
            return spikes[-1], spikes
        return spikes[-1]

    def layer_spikes(self, x: Tensor) -> list[Tensor]:
        """Every layer's spikes ``[(B, T, O_1), ...]`` for a checked input ``(B, T, I)``.

        For callers that validated ``x`` already (the encoders feed it their nerve's spikes).
        """
        return self.stream(x).spikes
