"""SPARSE keyword-spotting encoder: the ASR front end ending in a non-spiking LIF readout."""

from __future__ import annotations

import torch
from torch import Tensor

from ..neurons.defaults import BACKEND
from ..neurons.modules import ReadoutLayer
from .frontend import SpikingFrontEnd

__all__ = ["KWSEncoder"]


class KWSEncoder(SpikingFrontEnd):
    """Auditory nerve and AdLIF cortex followed by :class:`~sparse.ReadoutLayer`.

    ``feats (B, T, num_mel_bins) -> (out (B, 1, readout_features), all_spikes)``.
    ``out`` sums (``readout_reduction="sum"``, upstream) or averages (``"mean"``,
    a probability distribution) the per-step softmax of the readout potentials.
    Front-end arguments as :class:`~sparse.ASREncoder`; as upstream, the readout
    itself has no dropout.

    Examples
    --------
    >>> model = KWSEncoder(num_mel_bins=40, auditory_channels=[4], cortex_layer_sizes=[32],
    ...                    cortex_feedforward_portions=[1], cortex_sfa_portions=[.5],
    ...                    cortex_rnn_portions=[.5], readout_features=10,
    ...                    readout_reduction="mean", dt=10.0)
    >>> out, spikes = model(torch.rand(3, 50, 40))
    >>> out.shape, len(spikes)
    (torch.Size([3, 1, 10]), 2)
    """

    def __init__(
        self, *args, readout_features: int = 512, readout_reduction: str = "sum", **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.readout = ReadoutLayer(
            self.cortex.layer_sizes[-1], int(readout_features),
            dropout=0.0, normalization="batchnorm", use_bias=True,
            reduction=readout_reduction, backend=kwargs.get("backend", BACKEND),
        )

    @torch.no_grad()
    def project_parameters_(self) -> None:
        """Project the front end's neuron parameters and clamp the readout decay (after a step)."""
        super().project_parameters_()
        self.readout.project_parameters_()

    def forward(self, feats: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``(class scores (B, 1, readout_features), all_spikes)``."""
        spikes = self.spikes(feats)
        return self.readout(spikes[-1]), spikes
