"""SPARSE ASR encoder: nerve -> AdLIF cortex -> pooling to the CTC rate -> phoneme features."""

from __future__ import annotations

import torch  # noqa: F401  (doctest namespace)
from torch import Tensor, nn

from .._checks import check_positive
from .frontend import SpikingFrontEnd, _activation, check_keywords

__all__ = ["ASREncoder"]


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
        self.pool = nn.AvgPool1d(self.pool_size, self.pool_size)
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
        spikes = self.spikes(feats)
        last = spikes[-1]
        if last.shape[1] < self.pool_size:
            short = self.pool_size - (last.shape[1] - feats.shape[1])
            raise ValueError(
                f"ASREncoder input of {feats.shape[1]} frames is shorter than one output frame: "
                f"the pooling window is {self.pool_size} spike steps (dt = {self.dt:g} ms, "
                f"{1000.0 / self.dt / self.pool_size:g} Hz), which needs at least {short} frames"
            )
        pooled = self.pool(last.transpose(1, 2)).transpose(1, 2)
        out = self.phoneme(pooled)
        if self.return_spikes if return_spikes is None else return_spikes:
            return out, spikes
        return out
