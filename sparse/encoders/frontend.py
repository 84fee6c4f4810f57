"""Shared front end of the SPARSE encoders: auditory nerve (conv + LIF fibres) and AdLIF cortex."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import as_list, check_input, check_portion, check_positive
from ..neurons.defaults import BACKEND, ENCODER, SURROGATE
from ..neurons.modules import AdLIFNeurons
from .multilayer import MultilayeredSpiking

__all__ = ["AuditoryNerve", "FeatureMapLayerNorm", "SpikingFrontEnd", "TIME_PADDINGS",
           "FRONT_END_ARGS", "check_keywords"]

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


class AuditoryNerve(nn.Module):
    """2-D convolution over (time, mel) then LIF fibres: ``(B, T, F) -> (B, T', C*F')`` spikes.

    Each of one or two conv stages is ``Conv2d -> LayerNorm over (F', C) -> activation``
    (the norm is a :class:`FeatureMapLayerNorm`: computed over the flattened ``F'*C`` view);
    then ``Dropout2d`` zeroes whole (utterance, frequency-bin) planes across
    channels and steps, the (F', C) map is flattened with the channel index
    fastest (fibre ``f * C + c``) and drives a population of
    :class:`~sparse.neurons.modules.AdLIFNeurons` (pure LIF with the defaults).
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
        neuron_kwargs: dict,
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
        for ch, stride in zip(channels, frequency_strides, strict=True):
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
        self.neurons = AdLIFNeurons(self.num_fibres, dropout=dropout, **neuron_kwargs)

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

    def currents(self, feats: Tensor) -> Tensor:
        """Fibre input currents ``(B, T', F'*C)`` for features ``(B, T, F)``.

        The maps live in memory as ``(B, T, F, C)`` and every conv runs channels-last, so the
        ``(F', C)`` LayerNorm, the dropout and the final flatten need no permuting copy.
        """
        left, right = self._time_pads()
        x = feats.unsqueeze(-1)  # (B, T, F, 1)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = nn.functional.pad(x, (0, 0, 0, 0, left, right))  # (B, T + pad, F, C_in)
            # (B, C_in, T, F) view with channels-last strides: the conv keeps that layout
            x = conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (B, T', F', C)
            x = self.activation(norm(x))
        # Dropout2d on the (B, F', T', C) view drops (utterance, frequency-bin) planes; its
        # product keeps the (B, T', F', C) memory order, so the flatten below is a view
        x = self.dropout(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
        return x.flatten(2)  # (B, T', F'*C), channel fastest

    def forward(self, feats: Tensor) -> Tensor:
        """Nerve spikes ``(B, T', C*F')``."""
        return self.neurons(self.currents(feats))


class SpikingFrontEnd(nn.Module):
    """Auditory nerve and AdLIF cortex: the base of :class:`ASREncoder` and :class:`KWSEncoder`.

    Parameters are those of :class:`~sparse.ASREncoder` (see there).
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
        adlif_tauu_lim: Sequence[float] = ENCODER.tauu_lim,
        adlif_tauw_lim: Sequence[float] = ENCODER.tauw_lim,
        adlif_a_lim: Sequence[float] = ENCODER.a_lim,
        adlif_b_lim: Sequence[float] = ENCODER.b_lim,
        adlif_use_normal_init: bool = ENCODER.use_normal_init,
        adlif_threshold: float = ENCODER.threshold,
        dt: float = ENCODER.dt,
        time_padding: str = "upstream",
        surrogate: str = SURROGATE,
        backend: str = BACKEND,
    ) -> None:
        super().__init__()
        self.dt = check_positive("dt", dt)
        check_portion("dropout", dropout)
        channels = list(auditory_channels) if isinstance(auditory_channels, (list, tuple)) \
            else [auditory_channels]
        if not 1 <= len(channels) <= 2:
            raise ValueError(f"auditory_channels must hold 1 or 2 entries, got {channels}")
        strides = as_list("auditory_frequency_stride", auditory_frequency_stride, len(channels))
        neuron_kwargs = dict(
            tauu_lim=adlif_tauu_lim, tauw_lim=adlif_tauw_lim, a_lim=adlif_a_lim,
            b_lim=adlif_b_lim, use_normal_init=adlif_use_normal_init,
            threshold=adlif_threshold, dt=dt, surrogate=surrogate, backend=backend,
        )
        self.nerve = AuditoryNerve(
            num_mel_bins, channels, auditory_kernel_size, strides, time_padding, activation,
            dropout, dict(neuron_kwargs, sfa_portion=auditory_sfa_portion,
                          rnn_portion=auditory_rnn_portion,
                          use_lateral_rnn=auditory_use_lateral_rnn),
        )
        self.cortex = MultilayeredSpiking(
            self.nerve.num_fibres, cortex_layer_sizes, cortex_sfa_portions, cortex_rnn_portions,
            cortex_feedforward_portions, cortex_use_lateral_rnn, dropout=dropout,
            use_bias=True, normalization="batchnorm", return_all_spikes=True, **neuron_kwargs,
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

    def spikes(self, feats: Tensor) -> list[Tensor]:
        """Every population's spikes ``[nerve (B, T', C*F'), cortex_i (B, T', O_i) ...]``.

        Raises
        ------
        ValueError, TypeError
            Unless ``feats`` is a floating-point ``(batch, time, num_mel_bins)`` tensor
            without NaN.
        """
        check_input(feats, type(self).__name__)
        if feats.shape[-1] != self.num_mel_bins:
            raise ValueError(f"expected {self.num_mel_bins} mel bins, got {feats.shape[-1]}")
        nerve = self.nerve(feats)
        return [nerve, *self.cortex.layer_spikes(nerve)]

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


#: Keyword arguments understood by the front end.
FRONT_END_ARGS = set(inspect.signature(SpikingFrontEnd.__init__).parameters) - {"self"}
