"""Encoders whose spiking populations fire at a chosen density: the bench's sweep rows.

At initialisation the paper encoder fires far more than a trained one (about 30 % of the
nerve's and 12 % of the cortex's entries per 2 ms step on random features, where 20 Hz
would be 4 %), and the cost of its event-driven products grows with that share. The sweep
sets every population's threshold so that it fires at the asked density on the benchmark's
input (bisection, population after population, each depending on the ones before), so
that the same model can be timed at 1, 4, 10 and 30 % of active entries.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["SWEEP", "calibrate_thresholds", "sweep_label", "spike_densities"]

#: Densities of the sweep rows (share of active entries per step).
SWEEP = (0.01, 0.04, 0.10, 0.30)


def sweep_label(density: float) -> str:
    """Row label of one sweep density, e.g. ``encoder@4%``."""
    return f"encoder@{density * 100:g}%"


@torch.no_grad()
def spike_densities(model: nn.Module, feats: Tensor, seed: int = 0) -> list[float]:
    """Share of non-zero entries of every population's spikes (``model.spikes(feats)``), with
    the dropout draws of ``seed``."""
    torch.manual_seed(seed)
    return [float(s.count_nonzero()) / s.numel() for s in model.spikes(feats)]


def calibrate_thresholds(model: nn.Module, feats: Tensor, density: float,
                         iterations: int = 12) -> list[float]:
    """Set each population's threshold so that it fires at ``density``; returns them.

    ``model`` is a :class:`~sparse.encoders.frontend.SpikingFrontEnd` (its
    ``populations()`` in order, nerve first); thresholds are searched in ``[0.02, 50]`` on
    a log scale, in training mode (batch statistics, dropout drawn with a fixed seed).
    """
    thresholds = []
    for index, neurons in enumerate(model.populations().values()):
        lo, hi = math.log(0.02), math.log(50.0)
        for _ in range(iterations):
            neurons.threshold = math.exp((lo + hi) / 2)
            if spike_densities(model, feats)[index] > density:
                lo = math.log(neurons.threshold)  # fires too much: raise the threshold
            else:
                hi = math.log(neurons.threshold)
        neurons.threshold = math.exp((lo + hi) / 2)
        thresholds.append(neurons.threshold)
    return thresholds
