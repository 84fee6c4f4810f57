"""SPARSE keyword-spotting encoder: the ASR front end ending in a non-spiking LIF readout."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from ..neurons.modules import READOUT_ALPHA_LIM, ReadoutLayer
from ..neurons.network import Network, Population, Streamed, projection
from .frontend import FrontEndState, SpikingFrontEnd, check_keywords

__all__ = ["KWSEncoder", "KWSState", "READOUT_REDUCTIONS"]

#: How the readout's per-step potentials ``u_t`` become one class distribution per clip:
#: ``"sum"`` / ``"mean"``: softmax of every step, summed (upstream) or averaged over time;
#: ``"mean_potential"``: softmax of the time-averaged potentials; ``"max_potential"``:
#: softmax of each class's largest potential over time.
READOUT_REDUCTIONS = ("sum", "mean", "mean_potential", "max_potential")


class KWSState(NamedTuple):
    """State of a :class:`KWSEncoder` between two chunks: front end and readout potentials
    ``(B, C)``."""

    front: FrontEndState
    readout: Tensor


class KWSEncoder(SpikingFrontEnd):
    """Auditory nerve and AdLIF cortex followed by :class:`~sparse.ReadoutLayer`.

    ``feats (B, T, num_mel_bins) -> out (B, 1, readout_features)``, or
    ``(out, all_spikes)`` with ``return_spikes`` (a constructor default, overridable per
    call), as :class:`~sparse.ASREncoder`: by default the encoder drops into a SpeechBrain
    YAML in place of another encoder; recipes ask for spikes.
    ``out`` sums (``readout_reduction="sum"``, upstream) or averages (``"mean"``,
    a probability distribution) the per-step softmax of the readout potentials, or is
    the softmax of their time average (``"mean_potential"``) or maximum
    (``"max_potential"``); see :data:`READOUT_REDUCTIONS`.
    Front-end arguments as :class:`~sparse.ASREncoder`; as upstream, the readout
    itself has no dropout. Any other keyword argument raises ``TypeError`` naming it.

    ``readout_tau_lim = (low, high)`` in ms bounds the readout's learnt time constants,
    ``alpha = exp(-dt / tau)``. ``None`` keeps upstream's range of 5 to 25 *steps*
    (50 to 250 ms at dt = 10 ms, only 10 to 50 ms at dt = 2 ms): too short to hold the
    evidence of a spoken word until the clip ends.

    Examples
    --------
    >>> model = KWSEncoder(num_mel_bins=40, auditory_channels=[4], cortex_layer_sizes=[32],
    ...                    cortex_feedforward_portions=[1], cortex_sfa_portions=[.5],
    ...                    cortex_rnn_portions=[.5], readout_features=10,
    ...                    readout_reduction="mean", dt=10.0)
    >>> feats = torch.rand(3, 50, 40)
    >>> model(feats).shape
    torch.Size([3, 1, 10])
    >>> out, spikes = model(feats, return_spikes=True)
    >>> [tuple(s.shape) for s in spikes]
    [(3, 58, 136), (3, 58, 32)]
    """

    def __init__(
        self,
        *args,
        readout_features: int = 512,
        readout_reduction: str = "sum",
        readout_tau_lim: Sequence[float] | None = None,
        return_spikes: bool = False,
        **kwargs,
    ) -> None:
        check_keywords("KWSEncoder", kwargs, {"readout_features", "readout_reduction",
                                              "readout_tau_lim", "return_spikes"})
        if readout_reduction not in READOUT_REDUCTIONS:
            raise ValueError(
                f"readout_reduction must be one of {READOUT_REDUCTIONS}, got {readout_reduction!r}"
            )
        super().__init__(*args, **kwargs)
        self.readout_reduction = readout_reduction
        self.return_spikes = bool(return_spikes)
        alpha_lim = READOUT_ALPHA_LIM if readout_tau_lim is None else tuple(
            math.exp(-self.dt / float(tau)) for tau in readout_tau_lim)
        self.readout = ReadoutLayer(
            self.cortex.layer_sizes[-1], int(readout_features),
            dropout=0.0, normalization="batchnorm", use_bias=True,
            reduction="sum" if readout_reduction == "sum" else "mean",
            backend=self.nerve.neurons.backend, alpha_lim=alpha_lim,
        )

    # ---- the spiking-network protocol (with the front end's) -------------------------------

    def network(self) -> Network:
        """Nerve and cortex; the last layer's spikes drive the non-spiking readout."""
        front = self.front_network()
        readout = projection(self.population_names[-1], "readout", self.readout.W.weight)
        integrators = Population("readout", integrator=self.readout.W.out_features)
        return Network((*front.populations, integrators), (*front.projections, readout),
                       front.dense)

    def initial_state(self, batch: int) -> KWSState:
        """Front end before the first frame, readout potentials at zero."""
        return KWSState(self.front_state(batch), self.readout.initial_state(batch))

    def stream(self, feats: Tensor, state: KWSState | None = None, *, end: bool = True
               ) -> Streamed:
        """Readout potentials ``(B, n, C)`` of the steps ``feats`` ``(B, T, num_mel_bins)``
        completes, every population's spikes, and the state to continue from.

        :meth:`reduce` turns the potentials of a clip into its class scores (the output of
        :meth:`forward`).
        """
        if state is None:
            state = self.initial_state(feats.shape[0])
        spikes, front = self.stream_spikes(feats, state.front, end)
        if spikes[-1].shape[1] == 0:
            none = state.readout.new_zeros(state.readout.shape[0], 0, state.readout.shape[1])
            return Streamed(none, spikes, KWSState(front, state.readout))
        u = self.readout.potentials(spikes[-1], state.readout)
        return Streamed(u, spikes, KWSState(front, u[:, -1]))

    def reduce(self, potentials: Tensor) -> Tensor:
        """Class scores ``(B, 1, C)`` of the readout potentials ``(B, T, C)`` of a clip, by
        :attr:`readout_reduction` (see :data:`READOUT_REDUCTIONS`)."""
        if self.readout_reduction in ("sum", "mean"):
            return self.readout.reduce(potentials)
        pooled = potentials.mean(1, keepdim=True) if self.readout_reduction == "mean_potential" \
            else potentials.amax(1, keepdim=True)
        return torch.softmax(pooled, dim=-1)

    @torch.no_grad()
    def project_parameters_(self) -> None:
        """Project the front end's neuron parameters and clamp the readout decay (after a step)."""
        super().project_parameters_()
        self.readout.project_parameters_()

    def forward(
        self, feats: Tensor, return_spikes: bool | None = None
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Class scores ``(B, 1, readout_features)``, with ``all_spikes`` if asked.

        ``return_spikes`` (default: the constructor's) adds every population's spikes,
        ``(out, [nerve (B, T', C*F'), cortex_i (B, T', O_i) ...])``.
        """
        potentials, spikes, _ = self.stream(feats)
        out = self.reduce(potentials)
        if self.return_spikes if return_spikes is None else return_spikes:
            return out, spikes
        return out
