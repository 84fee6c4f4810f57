"""Layers of SPARSE cortex: masked feed-forward weights, normalisation and AdLIF neurons."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import as_list, check_input, check_portion, check_positive, check_rank3
from ..neurons import engine
from ..neurons.defaults import BACKEND, CORTEX, SURROGATE
from ..neurons.modules import AdLIFNeurons, apply_norm, connection_mask, make_norm

__all__ = ["SpikingFCLayer", "MultilayeredSpiking"]


class SpikingFCLayer(nn.Module):
    """One cortical layer: ``(B, T, I) -> (B, T, O)`` spikes.

    ``dropout(x) -> I = (W * ff_mask) x + bias -> norm over (B*T, O) -> AdLIFNeurons``.
    The feed-forward mask (density ``ff_portion``, drawn as in
    :func:`~sparse.neurons.modules.connection_mask`) is a buffer and is only
    created when ``ff_portion < 1``. Remaining keywords go to
    :class:`~sparse.neurons.modules.AdLIFNeurons` (the neurons' own dropout is 0).
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        sfa_portion: float = 0.5,
        rnn_portion: float = 0.3,
        ff_portion: float = 0.3,
        use_lateral_rnn: bool = False,
        use_normal_init: bool = CORTEX.use_normal_init,
        use_bias: bool = True,
        normalization: str = "batchnorm",
        dropout: float = 0.0,
        tauu_lim: Sequence[float] = CORTEX.tauu_lim,
        tauw_lim: Sequence[float] = CORTEX.tauw_lim,
        a_lim: Sequence[float] = CORTEX.a_lim,
        b_lim: Sequence[float] = CORTEX.b_lim,
        threshold: float = CORTEX.threshold,
        dt: float = CORTEX.dt,
        surrogate: str = SURROGATE,
        backend: str = BACKEND,
    ) -> None:
        super().__init__()
        check_portion("ff_portion", ff_portion)
        check_portion("dropout", dropout)
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
            use_lateral_rnn=use_lateral_rnn, use_normal_init=use_normal_init, dropout=0.0,
            tauu_lim=tauu_lim, tauw_lim=tauw_lim, a_lim=a_lim, b_lim=b_lim,
            threshold=threshold, dt=dt, surrogate=surrogate, backend=backend,
        )

    def feedforward_weights(self) -> Tensor:
        """Masked feed-forward matrix ``(O, I)``."""
        w = self.W.weight
        return w if self.ff_mask is None else w * self.ff_mask

    def effective_weights(self) -> tuple[Tensor, Tensor | None]:
        """``(W, V)``: masked feed-forward ``(O, I)`` and recurrent ``(O, O)`` (or ``None``)."""
        return self.feedforward_weights(), self.neurons.recurrent_weights()

    def currents(self, x: Tensor) -> Tensor:
        """Normalised input currents ``(B, T, O)``: the time-parallel part of the layer."""
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

    def forward(self, x: Tensor) -> Tensor:
        """Spikes ``(B, T, O)`` for input ``x`` ``(B, T, I)``."""
        return self.neurons(self.currents(x))


class MultilayeredSpiking(nn.Module):
    """Stack of :class:`SpikingFCLayer`: ``(B, T, input_size) -> (B, T, layer_sizes[-1])`` spikes.

    Every per-layer argument (``sfa_portions``, ``rnn_portions``, ``ff_portions``
    and ``use_lateral_rnn``) is a list with one entry per layer
    (``use_lateral_rnn`` may also be one bool for all).

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
    Other arguments
        As :class:`SpikingFCLayer`; ``dt`` in ms, time-constant ranges in ms.

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
        use_normal_init: bool = CORTEX.use_normal_init,
        use_bias: bool = True,
        normalization: str = "batchnorm",
        tauu_lim: Sequence[float] = CORTEX.tauu_lim,
        tauw_lim: Sequence[float] = CORTEX.tauw_lim,
        a_lim: Sequence[float] = CORTEX.a_lim,
        b_lim: Sequence[float] = CORTEX.b_lim,
        threshold: float = CORTEX.threshold,
        dt: float = CORTEX.dt,
        return_all_spikes: bool = False,
        surrogate: str = SURROGATE,
        backend: str = BACKEND,
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
        check_positive("dt", dt)
        self.return_all_spikes = return_all_spikes
        self.layer_sizes = sizes
        inputs = [int(input_size)] + sizes[:-1]
        self.layers = nn.ModuleList(
            SpikingFCLayer(
                inputs[i], sizes[i], sfa_portion=sfa[i], rnn_portion=rnn[i], ff_portion=ff[i],
                use_lateral_rnn=lateral[i], use_normal_init=use_normal_init, use_bias=use_bias,
                normalization=normalization, dropout=dropout, tauu_lim=tauu_lim,
                tauw_lim=tauw_lim, a_lim=a_lim, b_lim=b_lim, threshold=threshold, dt=dt,
                surrogate=surrogate, backend=backend,
            )
            for i in range(n)
        )

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
        spikes = []
        for layer in self.layers:
            x = layer(x)
            spikes.append(x)
        return spikes
