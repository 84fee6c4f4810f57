"""Shared front end of the SPARSE encoders: auditory nerve (conv + LIF fibres) and AdLIF cortex."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .._checks import as_list, check_input, check_portion
from ..neurons.defaults import ENCODER, adlif_config, neuron_keys
from ..neurons.modules import AdLIFNeurons
from ..neurons.network import DenseStage, Network, adaptive_population, projection
from ..neurons.state import AdLIFConfig, AdLIFState
from .multilayer import MultilayeredSpiking

__all__ = ["AuditoryNerve", "FeatureMapLayerNorm", "FrontEndState", "NerveState",
           "SpikingFrontEnd", "TIME_PADDINGS", "FRONT_END_ARGS", "NEURON_PREFIX",
           "check_keywords"]

#: Prefix of the encoders' neuron arguments (upstream's ``adlif_tauu_lim`` ...).
NEURON_PREFIX = "adlif_"

#: ``"upstream"`` pads ``k_t`` frames on each side of every conv (``T + k_t + 1`` frames out,
#: spikes shifted by about ``k_t / 2`` frames); ``"same"`` pads ``(k_t - 1) // 2`` left and
#: ``k_t // 2`` right (exactly ``T`` frames out, aligned with the features).
TIME_PADDINGS = ("upstream", "same")


class FeatureMapLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm(normalized_shape)`` computed over the flattened trailing dimensions.

    Parameters, ``state_dict`` keys and results are those of :class:`torch.nn.LayerNorm` with
    the same ``normalized_shape`` (on CPU bit for bit, gradients included); only the call
    differs: the input ``(..., *normalized_shape)`` is viewed as ``(..., prod(normalized_shape))``
    and normalised over that one dimension, with the weight and bias flattened likewise.

    Why: PyTorch's CUDA layer-norm backward (torch 2.11, pinned here; fixed upstream by
    pytorch/pytorch#193016) has a two-pass reduction for more than 65,536 rows and few columns
    (``N / 32 < SMs / 2``) in ``LaunchGammaBetaBackwardCUDAKernel``; it sizes its partial-sum
    buffers from the *last* normalised dimension instead of the product of all of them (and
    writes past them), then returns weight and bias gradients of that last dimension's shape.
    The nerve's ``(F', C) = (74, 16)`` norm took that path once a batch held more than 65,536
    spike steps in all (``B * T'``; e.g. 16 utterances of 4 s at dt = 2 ms, doubled by
    ``concat_original``), and autograd stopped with
    ``NativeLayerNormBackward0 returned an invalid gradient at index 1 - got [16] but expected
    shape compatible with [74, 16]``. With one normalised dimension the last dimension is the
    product, so both sizes are right.

    Examples
    --------
    >>> norm = FeatureMapLayerNorm([74, 16])
    >>> norm.weight.shape, norm(torch.randn(2, 5, 74, 16)).shape
    (torch.Size([74, 16]), torch.Size([2, 5, 74, 16]))
    """

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x (..., *normalized_shape)`` over its trailing ``normalized_shape``."""
        dims = len(self.normalized_shape)
        if dims == 1:
            return super().forward(x)
        flat = x.flatten(-dims)  # a view for the nerve's contiguous (B, T', F', C) maps
        weight = None if self.weight is None else self.weight.flatten()
        bias = None if self.bias is None else self.bias.flatten()
        out = nn.functional.layer_norm(flat, flat.shape[-1:], weight, bias, self.eps)
        return out.unflatten(-1, self.normalized_shape)


def _activation(activation) -> nn.Module:
    """Instantiate an activation given as a class (YAML ``!name:``) or return a module as is."""
    return activation() if isinstance(activation, type) else activation


class NerveState(NamedTuple):
    """State of an :class:`AuditoryNerve` between two chunks of a stream.

    Attributes
    ----------
    context : tuple of Tensor
        Per conv stage, ``(B, L, F_in, C_in)``: the stage's last input frames (``L < k_t``;
        at the start, the zero frames of its left time padding), which its next windows need.
    neurons : AdLIFState
        The fibres' state.
    """

    context: tuple[Tensor, ...]
    neurons: AdLIFState


class AuditoryNerve(nn.Module):
    """2-D convolution over (time, mel) then LIF fibres: ``(B, T, F) -> (B, T', C*F')`` spikes.

    Each of one or two conv stages is ``Conv2d -> LayerNorm over (F', C) -> activation``
    (the norm is a :class:`FeatureMapLayerNorm`: computed over the flattened ``F'*C`` view);
    then ``Dropout2d`` zeroes whole (utterance, frequency-bin) planes across
    channels and steps, the (F', C) map is flattened with the channel index
    fastest (fibre ``f * C + c``) and drives a population of
    :class:`~sparse.neurons.modules.AdLIFNeurons` (pure LIF with the defaults).

    Streaming (:meth:`stream`): every stage keeps its last ``k_t - 1`` input frames, so that
    a window spanning two chunks sees the frames of both; the right time padding is added at
    the end of the stream only. With ``"upstream"`` padding a step needs no later frame
    (step ``t`` sees frames ``t - k_t .. t - 1``: no look-ahead); with ``"same"`` each stage
    waits for ``k_t // 2`` later frames.
    """

    def __init__(
        self,
        num_mel_bins: int,
        channels: Sequence[int],
        kernel_size: Sequence[int],
        frequency_strides: Sequence[int],
        time_padding: str,
        activation,
        dropout: float,
        sfa_portion: float = 0.0,
        rnn_portion: float = 0.0,
        use_lateral_rnn: bool = True,
        neuron: AdLIFConfig | None = None,
    ) -> None:
        super().__init__()
        if not 1 <= len(channels) <= 2:
            raise ValueError(f"auditory_channels must hold 1 or 2 entries, got {list(channels)}")
        if time_padding not in TIME_PADDINGS:
            raise ValueError(f"time_padding must be one of {TIME_PADDINGS}, got {time_padding!r}")
        kt, kf = (int(k) for k in kernel_size)
        self.kernel_time, self.time_padding = kt, time_padding
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        freq, in_ch = int(num_mel_bins), 1
        self.stage_inputs: list[tuple[int, int]] = []  # (F_in, C_in) of every stage
        for ch, stride in zip(channels, frequency_strides, strict=True):
            self.stage_inputs.append((freq, in_ch))
            freq = (freq - kf) // int(stride) + 1
            if freq < 1:
                raise ValueError(
                    f"{num_mel_bins} mel bins are too few for kernel {kf} and stride {stride}"
                )
            conv = nn.Conv2d(in_ch, int(ch), (kt, kf), stride=(1, int(stride)))
            # weights in the layout of their gradients (the convs run channels-last), so
            # that DDP's gradient buckets need no re-striding copy (nor warn about one)
            self.convs.append(conv.to(memory_format=torch.channels_last))
            self.norms.append(FeatureMapLayerNorm([freq, int(ch)]))
            in_ch = int(ch)
        self.activation = _activation(activation)
        self.dropout = nn.Dropout2d(dropout)
        self.num_fibres = freq * in_ch
        self.neurons = AdLIFNeurons(self.num_fibres, sfa_portion, rnn_portion, use_lateral_rnn,
                                    dropout=dropout, neuron=neuron or ENCODER)

    def _time_pads(self) -> tuple[int, int]:
        """Frames ``(left, right)`` padded on the time axis before each conv."""
        kt = self.kernel_time
        return (kt, kt) if self.time_padding == "upstream" else ((kt - 1) // 2, kt // 2)

    def length(self, steps: int) -> int:
        """Number of output steps ``T'`` for ``steps`` input frames."""
        grow = self.kernel_time + 1 if self.time_padding == "upstream" else 0
        return int(steps) + grow * len(self.convs)

    @property
    def lag(self) -> int:
        """Steps by which the fibres' spikes lag the input frames: step ``t + lag`` is centred
        on frame ``t``.

        With ``"upstream"`` padding each conv's output step ``t`` sees input frames
        ``t - k_t .. t - 1``, centred ``(k_t + 1) // 2`` frames back (4 for a 7-frame
        kernel); the delays of stacked convs add up. ``"same"`` padding is centred: 0.
        """
        if self.time_padding != "upstream":
            return 0
        return len(self.convs) * ((self.kernel_time + 1) // 2)

    @property
    def look_ahead(self) -> int:
        """Frames after frame ``t`` that must have arrived before step ``t + lag`` can be
        computed: 0 with ``"upstream"`` padding, ``k_t // 2`` per stage with ``"same"``."""
        return 0 if self.time_padding == "upstream" else len(self.convs) * (self.kernel_time // 2)

    def initial_state(self, batch: int) -> NerveState:
        """Zero frames of every stage's left padding, and the fibres' initial state."""
        left = self._time_pads()[0]
        weight = self.convs[0].weight
        context = tuple(weight.new_zeros(batch, left, freq, ch) for freq, ch in self.stage_inputs)
        return NerveState(context, self.neurons.initial_state(batch))

    def stream_currents(
        self, feats: Tensor, context: tuple[Tensor, ...], end: bool
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Fibre input currents ``(B, n, F'*C)`` of the steps that ``feats`` ``(B, T, F)``
        completes, and every stage's context for the next chunk.

        The maps live in memory as ``(B, T, F, C)`` and every conv runs channels-last, so the
        ``(F', C)`` LayerNorm, the dropout and the final flatten need no permuting copy.
        """
        right, kt = self._time_pads()[1], self.kernel_time
        x = feats.unsqueeze(-1)  # (B, T, F, 1)
        kept = []
        for conv, norm, past in zip(self.convs, self.norms, context, strict=True):
            parts = [past, x]
            if end:
                parts.append(x.new_zeros(x.shape[0], right, *x.shape[2:]))
            x = torch.cat(parts, dim=1)  # (B, L + T (+ right), F, C_in)
            kept.append(x[:, max(0, x.shape[1] - (kt - 1)):])
            if x.shape[1] < kt:  # not one whole window yet
                out_freq = norm.normalized_shape[0]
                x = x.new_zeros(x.shape[0], 0, out_freq, conv.out_channels)
                continue
            # (B, C_in, T, F) view with channels-last strides: the conv keeps that layout
            x = conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (B, T', F', C)
            x = self.activation(norm(x))
        # Dropout2d on the (B, F', T', C) view drops (utterance, frequency-bin) planes; its
        # product keeps the (B, T', F', C) memory order, so the flatten below is a view
        x = self.dropout(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
        return x.flatten(2), tuple(kept)  # (B, T', F'*C), channel fastest

    def currents(self, feats: Tensor) -> Tensor:
        """Fibre input currents ``(B, T', F'*C)`` of a whole input ``(B, T, F)``."""
        return self.stream_currents(feats, self.initial_state(feats.shape[0]).context, True)[0]

    def stream(self, feats: Tensor, state: NerveState, end: bool
               ) -> tuple[Tensor, NerveState]:
        """Spikes ``(B, n, C*F')`` of the steps ``feats`` ``(B, T, F)`` completes, new state."""
        current, context = self.stream_currents(feats, state.context, end)
        out = self.neurons(current, state.neurons, return_state=True)
        return out.spikes, NerveState(context, out.state)

    def forward(self, feats: Tensor) -> Tensor:
        """Nerve spikes ``(B, T', C*F')``."""
        return self.stream(feats, self.initial_state(feats.shape[0]), True)[0]


class FrontEndState(NamedTuple):
    """State of a :class:`SpikingFrontEnd` between two chunks: nerve and cortex layers."""

    nerve: NerveState
    cortex: tuple[AdLIFState, ...]


class SpikingFrontEnd(nn.Module):
    """Auditory nerve and AdLIF cortex: the base of :class:`ASREncoder` and :class:`KWSEncoder`.

    Parameters are those of :class:`~sparse.ASREncoder` (see there). The neuron arguments of
    every population come as one :class:`~sparse.neurons.state.AdLIFConfig` (``neuron``, or a
    dict of some of its fields) or one by one with upstream's names: ``adlif_tauu_lim``,
    ``adlif_tauw_lim``, ``adlif_a_lim``, ``adlif_b_lim``, ``adlif_use_normal_init``,
    ``adlif_threshold``, ``dt`` (ms), ``surrogate`` and ``backend``; defaults of the
    ``ENCODER`` family of :mod:`sparse.neurons.defaults`.
    """

    def __init__(
        self,
        num_mel_bins: int = 80,
        auditory_channels: int | Sequence[int] = (16,),
        auditory_kernel_size: Sequence[int] = (7, 7),
        auditory_frequency_stride: int | Sequence[int] = (1,),
        auditory_sfa_portion: float = 0.0,
        auditory_rnn_portion: float = 0.0,
        auditory_use_lateral_rnn: bool = True,
        cortex_layer_sizes: Sequence[int] = (512, 512, 512),
        cortex_feedforward_portions: Sequence[float] = (1.0, 1.0, 1.0),
        cortex_sfa_portions: Sequence[float] = (0.5, 0.5, 0.5),
        cortex_rnn_portions: Sequence[float] = (0.5, 0.5, 0.5),
        cortex_use_lateral_rnn: bool | Sequence[bool] = False,
        activation=nn.LeakyReLU,
        dropout: float = 0.15,
        time_padding: str = "upstream",
        neuron: AdLIFConfig | Mapping[str, Any] | None = None,
        **neuron_args: Any,
    ) -> None:
        super().__init__()
        config = adlif_config(ENCODER, neuron, neuron_args, owner=type(self).__name__,
                              prefix=NEURON_PREFIX)
        self.dt = config.dt
        check_portion("dropout", dropout)
        channels = list(auditory_channels) if isinstance(auditory_channels, (list, tuple)) \
            else [auditory_channels]
        if not 1 <= len(channels) <= 2:
            raise ValueError(f"auditory_channels must hold 1 or 2 entries, got {channels}")
        strides = as_list("auditory_frequency_stride", auditory_frequency_stride, len(channels))
        self.nerve = AuditoryNerve(
            num_mel_bins, channels, auditory_kernel_size, strides, time_padding, activation,
            dropout, auditory_sfa_portion, auditory_rnn_portion, auditory_use_lateral_rnn,
            neuron=config,
        )
        self.cortex = MultilayeredSpiking(
            self.nerve.num_fibres, cortex_layer_sizes, cortex_sfa_portions, cortex_rnn_portions,
            cortex_feedforward_portions, cortex_use_lateral_rnn, dropout=dropout,
            use_bias=True, normalization="batchnorm", return_all_spikes=True, neuron=config,
        )
        self.num_mel_bins = int(num_mel_bins)
        cortex_names = [f"cortex{i + 1}" for i in range(len(self.cortex.layers))]
        self.population_names = ["nerve", *cortex_names]

    def spike_length(self, steps: int) -> int:
        """Spike-train length ``T'`` for ``steps`` frames (``T + 8`` per 7-frame upstream conv)."""
        return self.nerve.length(steps)

    @property
    def spike_lag(self) -> int:
        """Steps by which every population's spikes lag the input frames (the nerve's
        :attr:`AuditoryNerve.lag`: 4 for the upstream 7-frame conv, 0 with ``"same"``)."""
        return self.nerve.lag

    def populations(self) -> dict[str, AdLIFNeurons]:
        """The neurons of every spiking population by name, in network order.

        The keys are :attr:`population_names` (``nerve``, ``cortex1``, ...), in the order of
        the spike trains that :meth:`spikes` returns.
        """
        neurons = [self.nerve.neurons, *(layer.neurons for layer in self.cortex.layers)]
        return dict(zip(self.population_names, neurons, strict=True))

    def front_network(self) -> Network:
        """Nerve and cortex populations, their projections and the convolution's MACs."""
        populations = self.populations()
        names = list(populations)
        pops = [adaptive_population(n, m.sfa_mask) for n, m in populations.items()]
        projs = []
        for i, (name, module) in enumerate(populations.items()):
            recurrent = module.recurrent_weights()
            if recurrent is not None:
                projs.append(projection(name, name, recurrent))
            if i + 1 < len(names):
                ff = self.cortex.layers[i].feedforward_weights()
                projs.append(projection(name, names[i + 1], ff))
        conv_macs = sum(
            norm.normalized_shape[0] * conv.out_channels * conv.in_channels
            * conv.kernel_size[0] * conv.kernel_size[1]
            for conv, norm in zip(self.nerve.convs, self.nerve.norms, strict=True))
        return Network(tuple(pops), tuple(projs), (DenseStage("conv", float(conv_macs)),))

    def front_state(self, batch: int) -> FrontEndState:
        """Nerve (zero padding frames, zero neurons) and cortex state before the first frame."""
        return FrontEndState(self.nerve.initial_state(batch), self.cortex.initial_state(batch))

    def initial_state(self, batch: int) -> FrontEndState:
        """The state before the first frame (the encoders add their output stage's)."""
        return self.front_state(batch)

    def check_features(self, feats: Tensor) -> None:
        """Raise unless ``feats`` is a float ``(batch, time, num_mel_bins)`` tensor without NaN."""
        check_input(feats, type(self).__name__)
        if feats.shape[-1] != self.num_mel_bins:
            raise ValueError(f"expected {self.num_mel_bins} mel bins, got {feats.shape[-1]}")

    def stream_spikes(self, feats: Tensor, state: FrontEndState | None, end: bool
                      ) -> tuple[list[Tensor], FrontEndState]:
        """Every population's spikes for the steps ``feats`` ``(B, T, F)`` completes, and the
        state to continue from (``state`` ``None``: the initial one)."""
        self.check_features(feats)
        if state is None:
            state = self.front_state(feats.shape[0])
        nerve, nerve_state = self.nerve.stream(feats, state.nerve, end)
        cortex = self.cortex.stream(nerve, state.cortex)
        return [nerve, *cortex.spikes], FrontEndState(nerve_state, cortex.state)

    def spikes(self, feats: Tensor) -> list[Tensor]:
        """Every population's spikes ``[nerve (B, T', C*F'), cortex_i (B, T', O_i) ...]``.

        Raises
        ------
        ValueError, TypeError
            Unless ``feats`` is a floating-point ``(batch, time, num_mel_bins)`` tensor
            without NaN.
        """
        return self.stream_spikes(feats, None, True)[0]

    @torch.no_grad()
    def project_parameters_(self) -> None:
        """Keep neuron parameters in their ranges and masks applied (after an optimiser step)."""
        self.nerve.neurons.project_parameters_()
        self.cortex.project_parameters_()


def check_keywords(owner: str, kwargs: dict, own: set[str]) -> None:
    """Raise ``TypeError`` naming the first unknown key of ``kwargs``, with a close match.

    An encoder takes the keyword arguments of :class:`SpikingFrontEnd` and its ``own``; a YAML
    typo (``cortex_layer_size``) must not silently keep a default.

    Examples
    --------
    >>> check_keywords("KWSEncoder", {"return_spike": True}, {"return_spikes"})
    Traceback (most recent call last):
    ...
    TypeError: KWSEncoder got unknown keyword argument(s) ['return_spike']; did you mean ...
    """
    unknown = sorted(set(kwargs) - FRONT_END_ARGS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(FRONT_END_ARGS | own), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(f"{owner} got unknown keyword argument(s) {unknown}{hint}")


#: Keyword arguments understood by the front end: its own and the neuron arguments.
FRONT_END_ARGS = (set(inspect.signature(SpikingFrontEnd.__init__).parameters)
                  - {"self", "neuron_args"}) | neuron_keys(NEURON_PREFIX)
