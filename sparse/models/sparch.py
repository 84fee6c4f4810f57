r"""SpArch spiking baselines (Bittar & Garner, 2022): LIF, RLIF, adLIF, RadLIF layers and ``SNN``.

Each hidden layer computes ``I = norm(W x)`` for all steps at once, then scans its neurons
with :func:`sparse.neurons.engine.adlif` (``variant="sparch"``), the one implementation of

.. math::

    w_t &= \beta w_{t-1} + a\, u_{t-1} + b\, s_{t-1} \\
    u_t &= \alpha (u_{t-1} - s_{t-1}) + (1 - \alpha)(I_t + s_{t-1} V - w_t) \\
    s_t &= H(u_t - \theta)

LIF and RLIF have ``a = b = 0`` (so ``w = 0``); RLIF and RadLIF have the recurrent ``V``.

Differences from upstream ``sparch/models/snns.py`` (all deliberate):

* states start at zero, not at ``U[0, 1)`` on every call (deterministic evaluation);
* the decays and couplings are clamped out of place in the forward pass *and*
  :meth:`SNN.project_parameters_` writes them back into their ranges after each optimiser
  step, so a parameter can never sit outside its range where the clamp's gradient is zero;
* firing rates are computed from the spikes *before* dropout;
* the readout returns the *time-averaged* softmax (a distribution per example), to be
  trained with the NLL of its log, not the sum of softmaxes fed to a cross-entropy;
* with ``lengths``, padded steps are excluded from the readout average and the rates, and
  the backward direction of a bidirectional layer starts at each example's last real step.

Recurrent convention: upstream computes the row-vector product ``s V`` with ``V`` the
weight of an ``nn.Linear(H, H)`` (a zero-diagonal copy). The engine uses the
``nn.Linear`` convention ``s @ R.T``, so the layer passes ``R = V_0.T`` (``V_0`` = ``V``
with zero diagonal). ``V.weight`` therefore holds exactly upstream's matrix and upstream
``state_dict`` keys (``snn.<i>.W.weight``, ``.alpha``, ``.beta``, ``.a``, ``.b``,
``.V.weight``, ``.norm.*``) load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .._checks import check_portion, check_positive
from ..neurons import engine
from ..neurons.defaults import BACKEND, SPARCH, SURROGATE
from ..neurons.modules import ReadoutLayer, apply_norm, make_norm
from ..neurons.network import Network, Population, Streamed, projection
from ..neurons.state import AdLIFParameters, AdLIFState, ScanResult
from .common import (
    bidirectional_scan,
    flatten_input,
    input_size_of,
    masked_time_mean,
    valid_steps,
)

__all__ = ["ALPHA_LIM", "BETA_LIM", "A_LIM", "B_LIM", "NEURON_TYPES", "SpArchLayer", "LIFLayer",
           "RLIFLayer", "AdLIFLayer", "adLIFLayer", "RadLIFLayer", "SNN", "SNNState"]

#: Membrane decay range ``[e^{-1/5}, e^{-1/25}]`` (time constants 5..25 steps).
ALPHA_LIM = SPARCH.alpha_lim
#: Adaptation decay range ``[e^{-1/30}, e^{-1/120}]``.
BETA_LIM = SPARCH.beta_lim
#: Sub-threshold coupling range.
A_LIM = SPARCH.a_lim
#: Spike-triggered adaptation range.
B_LIM = SPARCH.b_lim


class SpArchLayer(nn.Module):
    """One SpArch spiking layer ``(B, T, I) -> (B, T, H)`` (or ``2H`` if bidirectional).

    Use the subclasses :class:`LIFLayer`, :class:`RLIFLayer`, :class:`AdLIFLayer`,
    :class:`RadLIFLayer`; they only set :attr:`adaptive` and :attr:`recurrent`.

    Parameters
    ----------
    input_size : int
        Features per step ``I``.
    hidden_size : int
        Neurons ``H``.
    threshold : float
        Firing threshold ``theta``.
    dropout : float
        Element dropout on the output spikes.
    normalization : str
        ``"batchnorm"`` (momentum 0.05), ``"layernorm"`` or ``"none"``, over ``(B*T, H)``.
    use_bias : bool
        Bias of the feed-forward ``W``.
    bidirectional : bool
        Also scan the time-reversed input through the same weights (output ``2H``).
    backend : str
        Engine back-end (``"auto"``, ``"reference"``, ``"cpu"``, ``"triton"``).
    """

    adaptive: bool = False
    recurrent: bool = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        threshold: float = SPARCH.threshold,
        dropout: float = 0.0,
        normalization: str = "batchnorm",
        use_bias: bool = False,
        bidirectional: bool = False,
        backend: str = BACKEND,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.threshold = float(threshold)
        self.bidirectional = bool(bidirectional)
        self.backend = engine.check_backend(backend)
        self.W = nn.Linear(self.input_size, self.hidden_size, bias=use_bias)
        self.norm = make_norm(normalization, self.hidden_size)
        self.drop = nn.Dropout(check_portion("dropout", dropout))
        h = self.hidden_size
        self.alpha = nn.Parameter(torch.empty(h).uniform_(*ALPHA_LIM))
        if self.adaptive:
            self.beta = nn.Parameter(torch.empty(h).uniform_(*BETA_LIM))
            self.a = nn.Parameter(torch.empty(h).uniform_(*A_LIM))
            self.b = nn.Parameter(torch.empty(h).uniform_(*B_LIM))
        if self.recurrent:
            self.V = nn.Linear(h, h, bias=False)
            nn.init.orthogonal_(self.V.weight)

    @property
    def output_size(self) -> int:
        """Features per step of the output: ``H`` or ``2H``."""
        return self.hidden_size * (1 + self.bidirectional)

    def _limits(self) -> list[tuple[nn.Parameter, tuple[float, float]]]:
        pairs = [(self.alpha, ALPHA_LIM)]
        if self.adaptive:
            pairs += [(self.beta, BETA_LIM), (self.a, A_LIM), (self.b, B_LIM)]
        return pairs

    def neuron_parameters(self) -> AdLIFParameters:
        """Clamped ``alpha, beta, a, b`` (each ``(H,)``; zeros if not adaptive), out of place."""
        alpha = self.alpha.clamp(*ALPHA_LIM)
        if not self.adaptive:
            zeros = torch.zeros_like(alpha)
            return AdLIFParameters(alpha, zeros, zeros, zeros, self.threshold)
        return AdLIFParameters(alpha, self.beta.clamp(*BETA_LIM), self.a.clamp(*A_LIM),
                               self.b.clamp(*B_LIM), self.threshold)

    def recurrent_matrix(self) -> Tensor | None:
        """``(H, H)`` engine matrix (``nn.Linear`` convention): ``V`` zero-diagonal, transposed.

        The engine computes ``s @ R.T = s @ V_0``, SpArch's row-vector product ``s V_0``.
        """
        if not self.recurrent:
            return None
        w = self.V.weight
        return (w * (1.0 - torch.eye(w.shape[0], device=w.device, dtype=w.dtype))).T

    @torch.no_grad()
    def project_parameters_(self) -> None:
        """Clamp the raw decays and couplings into their ranges in place (after optimiser steps)."""
        for param, lim in self._limits():
            param.clamp_(*lim)

    def initial_state(self, batch: int) -> AdLIFState:
        """Zero membrane, adaptation and spikes ``(batch, H)``: the state before the first step."""
        u, w, s = (self.alpha.new_zeros(batch, self.hidden_size) for _ in range(3))
        return AdLIFState(u, w, s)

    def scan(self, x: Tensor, state: AdLIFState | None = None) -> ScanResult:
        """One direction: spikes ``(B, T, H)`` before dropout and the final state, from
        ``state`` (default zeros); each step's current depends on that step's input only, bit
        for bit, without a gradient (:func:`sparse.neurons.engine.feedforward`)."""
        current = apply_norm(self.norm, engine.feedforward(x, self.W.weight, self.W.bias,
                                                           backend=self.backend))
        return engine.adlif(current, self.neuron_parameters(), self.recurrent_matrix(), state,
                            variant="sparch", surrogate=SURROGATE, backend=self.backend)

    def spikes(self, x: Tensor, n_valid: Tensor | None = None) -> Tensor:
        """Binary spikes ``(B, T, output_size)`` *before* dropout, from zero initial states.

        ``n_valid`` ``(B,)`` (valid steps per example) only matters when bidirectional: the
        backward scan then starts on each example's last valid step.
        """
        if self.bidirectional:
            return bidirectional_scan(lambda z: self.scan(z).spikes, x, n_valid)
        return self.scan(x).spikes

    def forward(self, x: Tensor, n_valid: Tensor | None = None) -> Tensor:
        """Spikes after dropout, ``(B, T, I) -> (B, T, output_size)``."""
        return self.drop(self.spikes(x, n_valid))

    def extra_repr(self) -> str:  # noqa: D102
        return f"{self.input_size}, {self.hidden_size}, bidirectional={self.bidirectional}"


class LIFLayer(SpArchLayer):
    """Leaky integrate-and-fire layer: ``u_t = alpha (u_{t-1} - s_{t-1}) + (1 - alpha) I_t``."""


class RLIFLayer(SpArchLayer):
    """Recurrent LIF layer: adds ``s_{t-1} V`` (orthogonal init, zero diagonal) to the drive."""

    recurrent = True


class AdLIFLayer(SpArchLayer):
    """Adaptive LIF: ``w_t = beta w_{t-1} + a u_{t-1} + b s_{t-1}`` is subtracted from ``I``."""

    adaptive = True


#: Upstream SpArch name of :class:`AdLIFLayer`.
adLIFLayer = AdLIFLayer


class RadLIFLayer(SpArchLayer):
    """Recurrent adaptive LIF layer (adLIF + recurrent ``V``)."""

    adaptive = True
    recurrent = True


class SNNState(NamedTuple):
    """State of a (unidirectional) :class:`SNN` between two chunks: every hidden layer's
    neuron state, and the readout's potentials ``(B, C)`` (``None`` without a readout)."""

    layers: tuple[AdLIFState, ...]
    readout: Tensor | None


#: Layer class per ``neuron_type``.
NEURON_TYPES: dict[str, type[SpArchLayer]] = {
    "LIF": LIFLayer, "RLIF": RLIFLayer, "adLIF": AdLIFLayer, "RadLIF": RadLIFLayer,
}


class SNN(nn.Module):
    """Multi-layer SpArch spiking network: ``(B, T, F) -> (output, firing_rates)``.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of an example batch, ``(B, T, F)`` or ``(B, T, F, C)`` (flattened to ``F*C``).
    layer_sizes : sequence of int
        Neurons per layer; the last entry is the readout (number of classes) when
        ``use_readout_layer``, else the last spiking layer.
    neuron_type : str
        ``"LIF"``, ``"RLIF"``, ``"adLIF"`` or ``"RadLIF"``.
    threshold : float
        Firing threshold of the spiking neurons.
    dropout : float
        Dropout on each spiking layer's output.
    normalization : str
        ``"batchnorm"``, ``"layernorm"`` or ``"none"`` (every layer and the readout).
    use_bias : bool
        Bias of the feed-forward weights.
    bidirectional : bool
        Bidirectional spiking layers (next layer input doubles).
    use_readout_layer : bool
        Finish with a non-spiking LIF readout whose softmax is averaged over time.
    backend : str
        Engine back-end of every layer (``"auto"``: the fastest available on the input's
        device; ``"reference"``: the plain time loop).
    dt : float
        Step size in ms, used only to report firing rates in Hz (the dynamics count steps):
        10 ms for SpArch's audio features, ``1000 * max_time / nb_steps`` for binned spike
        trains (14 ms on SHD/SSC).

    Returns (from ``forward``)
    --------------------------
    output : Tensor
        ``(B, C)`` class probabilities (time-averaged softmax; rows sum to 1) with a readout,
        else the last layer's spikes ``(B, T, layer_sizes[-1])`` after dropout.
    firing_rates : Tensor
        ``(N,)`` rate in Hz of every spiking neuron (layers concatenated, in
        :attr:`population_names` order), averaged over batch and valid steps, computed *before*
        dropout: spikes per step times ``1000 / dt``.

    Examples
    --------
    >>> model = SNN((4, 100, 20), [16, 16, 10], neuron_type="adLIF", dropout=0.1)
    >>> y, rates = model(torch.rand(4, 100, 20))
    >>> y.shape, rates.shape, torch.allclose(y.sum(-1), torch.ones(4))
    (torch.Size([4, 10]), torch.Size([32]), True)
    >>> model.population_names, model.population_sizes
    (['layer1', 'layer2'], [16, 16])
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        layer_sizes: Sequence[int],
        neuron_type: str = "LIF",
        threshold: float = SPARCH.threshold,
        dropout: float = 0.0,
        normalization: str = "batchnorm",
        use_bias: bool = False,
        bidirectional: bool = False,
        use_readout_layer: bool = True,
        backend: str = BACKEND,
        dt: float = SPARCH.dt,
    ) -> None:
        super().__init__()
        self.dt = check_positive("dt", dt)
        if neuron_type not in NEURON_TYPES:
            raise ValueError(
                f"invalid neuron_type {neuron_type!r}; choose one of {list(NEURON_TYPES)}")
        sizes = [int(s) for s in layer_sizes]
        if not sizes or (use_readout_layer and len(sizes) < 2):
            raise ValueError(f"layer_sizes needs a hidden layer (+ readout), got {sizes}")
        self.input_size = input_size_of(input_shape)
        self.layer_sizes, self.neuron_type = sizes, neuron_type
        self.use_readout_layer = bool(use_readout_layer)
        hidden = sizes[:-1] if use_readout_layer else sizes
        layers: list[nn.Module] = []
        size = self.input_size
        for h in hidden:
            layer = NEURON_TYPES[neuron_type](size, h, threshold, dropout, normalization, use_bias,
                                              bidirectional, backend)
            layers.append(layer)
            size = layer.output_size
        if use_readout_layer:
            layers.append(ReadoutLayer(size, sizes[-1], dropout=0.0, normalization=normalization,
                                       use_bias=use_bias, reduction="mean", backend=backend))
        self.snn = nn.ModuleList(layers)

    @property
    def population_names(self) -> list[str]:
        """``layer1``, ``layer2``, ...: the spiking layers, in the order of the firing rates."""
        return [f"layer{i + 1}" for i in range(len(self.population_sizes))]

    @property
    def population_sizes(self) -> list[int]:
        """Neurons of each spiking layer (``2H`` when bidirectional)."""
        return [layer.output_size for layer in self.hidden]

    @property
    def hidden(self) -> list[SpArchLayer]:
        """The spiking layers, in order."""
        return list(self.snn[:-1] if self.use_readout_layer else self.snn)

    @property
    def readout(self) -> ReadoutLayer | None:
        """The non-spiking LIF readout, or ``None``."""
        return self.snn[-1] if self.use_readout_layer else None

    # ---- the spiking-network protocol --------------------------------------------------------

    spike_lag = 0  # frame t drives step t

    def network(self) -> Network:
        """The input drives layer 1, each layer the next, the last the readout; a bidirectional
        layer applies its weights twice (one recurrent block per direction)."""
        pops, projs, source = [], [], "input"
        for name, layer in zip(self.population_names, self.hidden, strict=True):
            copies = 2 if layer.bidirectional else 1
            projs.append(projection(source, name, layer.W.weight, copies))
            adaptive = torch.full((layer.output_size,), layer.adaptive)
            pops.append(Population(name, lif=0 if layer.adaptive else layer.output_size,
                                   adlif=layer.output_size if layer.adaptive else 0,
                                   adaptive=adaptive))
            recurrent = layer.recurrent_matrix()
            if recurrent is not None:  # (out, in) like nn.Linear; one block per direction
                projs.append(projection(name, name, torch.block_diag(*[recurrent] * copies)))
            source = name
        if self.readout is not None:
            projs.append(projection(source, "readout", self.readout.W.weight))
            pops.append(Population("readout", integrator=self.readout.W.out_features))
        return Network(tuple(pops), tuple(projs))

    def initial_state(self, batch: int) -> SNNState:
        """Zero states of every layer and of the readout."""
        readout = None if self.readout is None else self.readout.initial_state(batch)
        return SNNState(tuple(layer.initial_state(batch) for layer in self.hidden), readout)

    def stream(self, x: Tensor, state: SNNState | None = None, *, end: bool = True,
               lengths: Tensor | None = None) -> Streamed:
        """The steps of ``x`` ``(B, T, F)`` (or ``(B, T, F, C)``), from ``state``.

        ``output``: the readout potentials ``(B, T, C)`` (:meth:`posteriors` averages their
        softmax), or the last layer's spikes after dropout without a readout; ``spikes``:
        every hidden layer's, before dropout. A bidirectional network reads the sequence
        backwards too, so it runs whole only (no ``state``, ``end=True``; ``lengths``, relative
        in ``(0, 1]``, then start the backward scans on each example's last valid step) and
        returns no state.

        Raises
        ------
        ValueError
            For a chunk (``state`` or ``end=False``) of a bidirectional network.
        """
        x = flatten_input(x)
        if any(layer.bidirectional for layer in self.hidden):
            if state is not None or not end:
                raise ValueError("a bidirectional SNN reads each sequence backwards too: it "
                                 "cannot be streamed in chunks, only run whole")
            n_valid = None if lengths is None else valid_steps(lengths, x.shape[0],
                                                               x.shape[1], x.device)
            spikes = []
            for layer in self.hidden:
                spikes.append(layer.spikes(x, n_valid))
                x = layer.drop(spikes[-1])
            out = x if self.readout is None else self.readout.potentials(x)
            return Streamed(out, spikes, None)
        if state is None:
            state = self.initial_state(x.shape[0])
        spikes, states = [], []
        for layer, layer_state in zip(self.hidden, state.layers, strict=True):
            result = layer.scan(x, layer_state)
            spikes.append(result.spikes)
            states.append(result.state)
            x = layer.drop(result.spikes)
        if self.readout is None:
            return Streamed(x, spikes, SNNState(tuple(states), None))
        u = self.readout.potentials(x, state.readout)
        last = u[:, -1] if u.shape[1] else state.readout
        return Streamed(u, spikes, SNNState(tuple(states), last))

    def posteriors(self, potentials: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``(B, C)``: the readout's softmax averaged over the valid steps of ``potentials``
        ``(B, T, C)`` (``lengths`` relative, ``None``: all)."""
        n_valid = None if lengths is None else valid_steps(
            lengths, potentials.shape[0], potentials.shape[1], potentials.device)
        return masked_time_mean(torch.softmax(potentials, dim=-1), n_valid)

    # -----------------------------------------------------------------------------------------

    @torch.no_grad()
    def project_parameters_(self) -> None:
        """Clamp every layer's neuron parameters into range (call after ``optimizer.step()``)."""
        for layer in self.snn:
            layer.project_parameters_()

    def forward(self, x: Tensor, lengths: Tensor | None = None, return_spikes: bool = False
                ) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, list[Tensor]]:
        """Run the network; ``lengths`` ``(B,)``: relative lengths in ``(0, 1]`` or ``None``.

        Returns ``(output, firing_rates)`` (see the class docstring), and with
        ``return_spikes`` every hidden layer's spikes ``(B, T, N_i)`` (before dropout) too.
        """
        out, spikes, _ = self.stream(x, lengths=lengths)
        n_valid = None
        if lengths is not None:
            n_valid = valid_steps(lengths, out.shape[0], out.shape[1], out.device)
        rates = torch.cat([masked_time_mean(s, n_valid).mean(dim=0) if n_valid is not None
                           else s.mean(dim=(0, 1)) for s in spikes]) * (1000.0 / self.dt)
        if self.readout is not None:
            out = self.posteriors(out, lengths)
        return (out, rates, spikes) if return_spikes else (out, rates)

