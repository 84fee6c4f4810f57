"""SPARSE ASR encoder: nerve -> AdLIF cortex -> pooling to the CTC rate -> phoneme features."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .._checks import check_positive
from ..neurons import framewise
from ..neurons.network import DenseStage, Network, Projection, Streamed
from .frontend import FrontEndState, SpikingFrontEnd, _activation, check_keywords

__all__ = ["ASREncoder", "ASRState"]


class ASRState(NamedTuple):
    """State of an :class:`ASREncoder` between two chunks of a stream.

    Attributes
    ----------
    front : FrontEndState
        Nerve and cortex.
    pending : Tensor
        ``(B, r, O)`` the last cortex layer's spikes of the CTC frame in progress (``r < k``).
    """

    front: FrontEndState
    pending: Tensor


class ASREncoder(SpikingFrontEnd):
    """Spiking speech encoder for CTC (Bittar & Garner, 2024).

    ``feats (B, T, num_mel_bins)`` with one frame every ``dt`` ms
    ``-> out (B, T_ctc, phoneme_features)``, or ``(out, all_spikes)`` with ``return_spikes``
    (a constructor default, overridable per call): by default the encoder drops into a
    SpeechBrain YAML in place of another encoder (``y = model(x)``); recipes ask for spikes.

    1. Auditory nerve: ``Conv2d`` over (time, mel) with ``auditory_channels``
       channels, LayerNorm, activation, ``Dropout2d``, then ``C * F'`` LIF fibres
       (1184 = 16 x 74 with the defaults).
    2. Cortex: :class:`~sparse.MultilayeredSpiking` of AdLIF layers
       (``cortex_*`` arguments, batch-norm, bias).
    3. Average pooling over time with kernel = stride ``k = int(1000 / dt / phoneme_ctc_rate_hz)``
       (20 at dt = 2 ms and 25 Hz), then ``phoneme_num_layers`` blocks of
       ``Linear -> activation -> Dropout``.

    Lengths: ``T' = T + (k_t + 1) * n_conv`` with ``time_padding="upstream"``
    (upstream SPARSE; 3 s at dt 2 ms: 1501 frames -> 1509 steps) or ``T' = T``
    with ``"same"``; ``T_ctc = floor(T' / k)`` (the tail shorter than ``k`` is dropped,
    as upstream): see :meth:`spike_length` and :meth:`output_length`; an input too short
    for one output frame is an error.
    ``all_spikes`` is ``[nerve (B, T', C*F'), cortex1 (B, T', O_1), ...]``.
    The vocabulary projection is left to the recipe. Keyword arguments are those of
    :class:`~sparse.encoders.frontend.SpikingFrontEnd`, the three ``phoneme_*`` ones and
    ``return_spikes``; any other raises ``TypeError`` naming it (upstream ignored them, so that
    a YAML typo silently kept the default).

    Examples
    --------
    >>> model = ASREncoder(num_mel_bins=40, auditory_channels=[4], cortex_layer_sizes=[32, 32],
    ...                    cortex_feedforward_portions=[1, 1], cortex_sfa_portions=[.5, .5],
    ...                    cortex_rnn_portions=[.5, .5], phoneme_features=24, dt=2.0)
    >>> feats = torch.rand(2, 100, 40)
    >>> model(feats).shape, model.output_length(100)
    (torch.Size([2, 5, 24]), 5)
    >>> out, spikes = model(feats, return_spikes=True)
    >>> [tuple(s.shape) for s in spikes]
    [(2, 108, 136), (2, 108, 32), (2, 108, 32)]
    """

    def __init__(
        self,
        *args,
        phoneme_num_layers: int = 2,
        phoneme_features: int = 512,
        phoneme_ctc_rate_hz: float = 25.0,
        return_spikes: bool = False,
        **kwargs,
    ) -> None:
        check_keywords("ASREncoder", kwargs, {"phoneme_num_layers", "phoneme_features",
                                              "phoneme_ctc_rate_hz", "return_spikes"})
        super().__init__(*args, **kwargs)
        self.return_spikes = bool(return_spikes)
        check_positive("phoneme_ctc_rate_hz", phoneme_ctc_rate_hz)
        self.pool_size = int(1000.0 / self.dt / phoneme_ctc_rate_hz)
        if self.pool_size < 1:
            raise ValueError(
                f"phoneme_ctc_rate_hz={phoneme_ctc_rate_hz} is faster than the spike rate "
                f"1000/dt = {1000.0 / self.dt} Hz"
            )
        if int(phoneme_num_layers) < 1:
            raise ValueError(f"phoneme_num_layers must be >= 1, got {phoneme_num_layers}")
        activation = kwargs.get("activation", nn.LeakyReLU)
        dropout = kwargs.get("dropout", 0.15)
        sizes = [self.cortex.layer_sizes[-1]] + [int(phoneme_features)] * int(phoneme_num_layers)
        blocks = []
        for i in range(int(phoneme_num_layers)):
            linear = nn.Linear(sizes[i], sizes[i + 1])
            blocks += [linear, _activation(activation), nn.Dropout(dropout)]
        self.phoneme = nn.Sequential(*blocks)

    def output_length(self, steps: int) -> int:
        """CTC frames ``floor(T' / k)`` for ``steps`` feature frames."""
        return self.spike_length(steps) // self.pool_size

    # ---- the spiking-network protocol (with the front end's) -------------------------------

    def network(self) -> Network:
        """Nerve and cortex; the last layer's spikes summed per CTC frame, then the dense head."""
        front = self.front_network()
        last = self.population_names[-1]
        size = self.cortex.layer_sizes[-1]
        pool = Projection(last, "pool", torch.ones(size, dtype=torch.float64), size)
        linears = [m for m in self.phoneme if isinstance(m, nn.Linear)]
        head = DenseStage("head", sum(m.weight.numel() for m in linears) / self.pool_size)
        return Network(front.populations, (*front.projections, pool), (*front.dense, head),
                       output_steps=self.pool_size)

    def initial_state(self, batch: int) -> ASRState:
        """Nerve and cortex before the first frame; no spike waiting for its CTC frame."""
        front = self.front_state(batch)
        size = self.cortex.layer_sizes[-1]
        return ASRState(front, self.phoneme[0].weight.new_zeros(batch, 0, size))

    def stream(self, feats: Tensor, state: ASRState | None = None, *, end: bool = True
               ) -> Streamed:
        """The CTC frames that ``feats`` ``(B, T, num_mel_bins)`` completes, from ``state``.

        ``output`` ``(B, n, phoneme_features)``: the frames whose ``k`` spike steps are all in,
        ``spikes``: every population's spikes of the steps completed; with ``end`` the nerve's
        right padding is flushed and an incomplete last frame dropped (as offline).
        """
        if state is None:
            state = self.initial_state(feats.shape[0])
        spikes, front = self.stream_spikes(feats, state.front, end)
        last = torch.cat([state.pending, spikes[-1]], dim=1)
        frames = last.shape[1] // self.pool_size
        whole = frames * self.pool_size
        out = self.head(self.pool(last[:, :whole]))
        return Streamed(out, spikes, ASRState(front, last[:, whole:]))

    # ---------------------------------------------------------------------------------------

    def pool(self, spikes: Tensor) -> Tensor:
        """Average of every ``k`` steps, ``(B, n k, O) -> (B, n, O)``: spike counts (exact in any
        order) divided by ``k``."""
        b, steps, size = spikes.shape
        return spikes.reshape(b, steps // self.pool_size, self.pool_size, size).sum(2) \
            / self.pool_size

    def head(self, pooled: Tensor) -> Tensor:
        """The ``Linear -> activation -> Dropout`` blocks, ``(B, n, O) -> (B, n, F)``, each
        frame independent of the others in inference (:mod:`sparse.neurons.framewise`)."""
        for module in self.phoneme:
            if isinstance(module, nn.Linear):
                pooled = framewise.linear(pooled, module.weight, module.bias)
            else:
                pooled = module(pooled)
        return pooled

    def forward(
        self, feats: Tensor, return_spikes: bool | None = None
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Phoneme features ``(B, T_ctc, phoneme_features)``, with ``all_spikes`` if asked.

        ``return_spikes`` (default: the constructor's) adds every population's spikes,
        ``(out, [nerve (B, T', C*F'), cortex_i (B, T', O_i) ...])``.

        Raises
        ------
        ValueError
            If ``feats`` gives fewer spike steps than one pooling window (no output frame),
            or as :meth:`spikes`.
        """
        self.check_features(feats)
        if self.spike_length(feats.shape[1]) < self.pool_size:
            short = self.pool_size - (self.spike_length(feats.shape[1]) - feats.shape[1])
            raise ValueError(
                f"ASREncoder input of {feats.shape[1]} frames is shorter than one output frame: "
                f"the pooling window is {self.pool_size} spike steps (dt = {self.dt:g} ms, "
                f"{1000.0 / self.dt / self.pool_size:g} Hz), which needs at least {short} frames"
            )
        out, spikes, _ = self.stream(feats)
        if self.return_spikes if return_spikes is None else return_spikes:
            return out, spikes
        return out
