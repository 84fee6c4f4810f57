"""The one definition of the neuron arguments' defaults, per model family.

Upstream SPARSE gives its classes *different* defaults (SPEC §1.2 vs §1.4-1.5 vs §2.1;
§6 defect 4), and the published configurations rely on each class's own set, so the
families below keep them apart on purpose; every constructor takes its defaults from
here. Time constants and ``dt`` in ms.

::

    family      used by                      tau_u    tau_w      a          b          init     dt
    POPULATION  AdLIFNeurons                 [3, 25]  [30, 350]  [-0.5, 5]  [0, 2]     uniform  10
    CORTEX      SpikingFCLayer, Multilayer…  [3, 25]  [30, 500]  [0, 5]     [0, 1.25]  normal   1
    ENCODER     ASR/KWSEncoder (adlif_*)     [3, 25]  [30, 350]  [-0.5, 5]  [0, 2]     uniform  1

SpArch (SPEC §5.1) trains the decays themselves, not time constants, within the ranges
of :data:`SPARCH`; its readout range is also the SPARSE readout's (SPEC §1.6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BACKEND", "CORTEX", "ENCODER", "POPULATION", "READOUT_ALPHA_LIM", "SPARCH",
           "SURROGATE", "AdLIFDefaults", "SpArchDefaults"]

#: Engine back-end of every layer and model: the fastest one available on the input's device.
BACKEND = "auto"
#: Surrogate gradient of SPARSE and SpArch (box-car, SPEC §1.1).
SURROGATE = "boxcar"


@dataclass(frozen=True)
class AdLIFDefaults:
    """Defaults of the SPARSE AdLIF neuron arguments of one family.

    Attributes
    ----------
    tauu_lim, tauw_lim : (float, float)
        Membrane and adaptation time-constant ranges, in ms.
    a_lim, b_lim : (float, float)
        Ranges of the sub-threshold coupling ``a`` and the spike-triggered increment ``b``.
    use_normal_init : bool
        Normal (True) or uniform (False) initialisation within the ranges.
    threshold : float
        Firing threshold.
    dt : float
        Step size in ms.
    """

    tauu_lim: tuple[float, float]
    tauw_lim: tuple[float, float]
    a_lim: tuple[float, float]
    b_lim: tuple[float, float]
    use_normal_init: bool
    threshold: float
    dt: float


#: Upstream ``SpikingNeurons`` (SPEC §1.2): :class:`~sparse.neurons.modules.AdLIFNeurons`.
POPULATION = AdLIFDefaults(tauu_lim=(3.0, 25.0), tauw_lim=(30.0, 350.0), a_lim=(-0.5, 5.0),
                           b_lim=(0.0, 2.0), use_normal_init=False, threshold=1.0, dt=10.0)
#: Upstream ``SpikingFCLayer`` and ``MultilayeredSpiking`` (SPEC §1.4-1.5):
#: :class:`~sparse.SpikingFCLayer`, :class:`~sparse.MultilayeredSpiking`.
CORTEX = AdLIFDefaults(tauu_lim=(3.0, 25.0), tauw_lim=(30.0, 500.0), a_lim=(0.0, 5.0),
                       b_lim=(0.0, 1.25), use_normal_init=True, threshold=1.0, dt=1.0)
#: Upstream ``ASREncoder``/``KWSEncoder`` ``adlif_*`` arguments and ``dt`` (SPEC §2.1, the
#: TIMIT configuration with ``dt`` = hop): :class:`~sparse.ASREncoder`, ``KWSEncoder``.
ENCODER = AdLIFDefaults(tauu_lim=(3.0, 25.0), tauw_lim=(30.0, 350.0), a_lim=(-0.5, 5.0),
                        b_lim=(0.0, 2.0), use_normal_init=False, threshold=1.0, dt=1.0)


@dataclass(frozen=True)
class SpArchDefaults:
    """Ranges (initialisation and clamp) of the SpArch neuron parameters, its threshold, and
    the step ``dt`` (ms) that turns spikes per step into Hz (SpArch's dynamics count steps)."""

    alpha_lim: tuple[float, float]
    beta_lim: tuple[float, float]
    a_lim: tuple[float, float]
    b_lim: tuple[float, float]
    threshold: float
    dt: float


#: SpArch (SPEC §5.1): decays ``alpha`` in ``[e^{-1/5}, e^{-1/25}]`` (5..25 steps), ``beta`` in
#: ``[e^{-1/30}, e^{-1/120}]``, ``a`` in ``[-1, 1]``, ``b`` in ``[0, 2]``; ``dt`` 10 ms, the
#: frame shift of its audio features (spike-train tasks: ``max_time / nb_steps``, 14 ms on SHD).
SPARCH = SpArchDefaults(alpha_lim=(math.exp(-1 / 5), math.exp(-1 / 25)),
                        beta_lim=(math.exp(-1 / 30), math.exp(-1 / 120)),
                        a_lim=(-1.0, 1.0), b_lim=(0.0, 2.0), threshold=1.0, dt=10.0)

#: Decay range of the non-spiking readouts, SPARSE (SPEC §1.6) and SpArch (§5.2) alike.
READOUT_ALPHA_LIM = SPARCH.alpha_lim
