"""The one definition of the neuron arguments' defaults, per model family.

Upstream SPARSE (idiap/sparse, the code of Bittar & Garner, 2024) gives its classes
*different* defaults: its ``SpikingNeurons`` population, its ``SpikingFCLayer`` /
``MultilayeredSpiking`` cortex and the ``adlif_*`` arguments of its encoders each have their
own set, and the published configurations rely on each class's own one. The families below
keep them apart on purpose; every constructor takes its defaults from here, as one
:class:`~sparse.neurons.state.AdLIFConfig` (:func:`adlif_config` folds the keyword arguments
of a constructor into it). Time constants and ``dt`` in ms.

::

    family      used by                      tau_u    tau_w      a          b          init     dt
    POPULATION  AdLIFNeurons                 [3, 25]  [30, 350]  [-0.5, 5]  [0, 2]     uniform  10
    CORTEX      SpikingFCLayer, Multilayer…  [3, 25]  [30, 500]  [0, 5]     [0, 1.25]  normal   1
    ENCODER     ASR/KWSEncoder (adlif_*)     [3, 25]  [30, 350]  [-0.5, 5]  [0, 2]     uniform  1

SpArch (Bittar & Garner, 2022) trains the decays themselves, not time constants, within the
ranges of :data:`SPARCH`; its readout range is also the SPARSE readout's.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._checks import check_positive, check_range
from .state import AdLIFConfig

__all__ = ["BACKEND", "CORTEX", "ENCODER", "POPULATION", "READOUT_ALPHA_LIM", "SPARCH",
           "SURROGATE", "AdLIFDefaults", "SpArchDefaults", "adlif_config", "neuron_keys"]

#: Engine back-end of every layer and model: the fastest one available on the input's device.
BACKEND = "auto"
#: Surrogate gradient of SPARSE and SpArch: the box-car (rectangular) window of width 1 around
#: the threshold, as both papers train with.
SURROGATE = "boxcar"

#: Earlier name of :class:`~sparse.neurons.state.AdLIFConfig` (the families' type).
AdLIFDefaults = AdLIFConfig

#: Upstream ``SpikingNeurons``: :class:`~sparse.neurons.modules.AdLIFNeurons`.
POPULATION = AdLIFConfig(tauu_lim=(3.0, 25.0), tauw_lim=(30.0, 350.0), a_lim=(-0.5, 5.0),
                         b_lim=(0.0, 2.0), use_normal_init=False, threshold=1.0, dt=10.0,
                         surrogate=SURROGATE, backend=BACKEND)
#: Upstream ``SpikingFCLayer`` and ``MultilayeredSpiking``: :class:`~sparse.SpikingFCLayer`,
#: :class:`~sparse.MultilayeredSpiking`.
CORTEX = AdLIFConfig(tauu_lim=(3.0, 25.0), tauw_lim=(30.0, 500.0), a_lim=(0.0, 5.0),
                     b_lim=(0.0, 1.25), use_normal_init=True, threshold=1.0, dt=1.0,
                     surrogate=SURROGATE, backend=BACKEND)
#: Upstream ``ASREncoder``/``KWSEncoder`` ``adlif_*`` arguments and ``dt`` (its TIMIT
#: configuration sets ``dt`` to the feature hop): :class:`~sparse.ASREncoder`, ``KWSEncoder``.
ENCODER = AdLIFConfig(tauu_lim=(3.0, 25.0), tauw_lim=(30.0, 350.0), a_lim=(-0.5, 5.0),
                      b_lim=(0.0, 2.0), use_normal_init=False, threshold=1.0, dt=1.0,
                      surrogate=SURROGATE, backend=BACKEND)


def adlif_config(
    family: AdLIFConfig,
    neuron: AdLIFConfig | Mapping[str, Any] | None = None,
    keys: Mapping[str, Any] | None = None,
    *,
    owner: str = "AdLIFNeurons",
    prefix: str = "",
) -> AdLIFConfig:
    """The :class:`~sparse.neurons.state.AdLIFConfig` a constructor was asked for, checked.

    Parameters
    ----------
    family : AdLIFConfig
        The constructor's defaults (:data:`POPULATION`, :data:`CORTEX`, :data:`ENCODER`).
    neuron : AdLIFConfig or mapping, optional
        A whole configuration (replaces ``family``) or some of its fields by name.
    keys : mapping, optional
        Fields given one by one as keyword arguments, each named ``prefix + field`` (the
        encoders' ``adlif_tauu_lim``; ``dt``, ``surrogate`` and ``backend`` never take the
        prefix); they win over ``neuron``.
    owner : str
        Class named in the error messages.
    prefix : str
        Prefix of the keyword arguments.

    Raises
    ------
    TypeError
        For a key that is no field, naming the closest one.
    ValueError
        For a range that is no ``[low, high]`` pair, a non-positive time constant or ``dt``,
        an unknown surrogate or back-end.

    Examples
    --------
    >>> cfg = adlif_config(CORTEX, keys={"dt": 2, "tauw_lim": [30, 350]})
    >>> cfg.dt, cfg.tauw_lim, cfg.tauu_lim == CORTEX.tauu_lim
    (2.0, (30.0, 350.0), True)
    >>> adlif_config(ENCODER, keys={"adlif_tau_lim": [3, 25]}, owner="ASREncoder",
    ...              prefix="adlif_")
    Traceback (most recent call last):
    ...
    TypeError: ASREncoder got an unknown neuron argument 'adlif_tau_lim'; did you mean ...
    """
    cfg = family
    if isinstance(neuron, AdLIFConfig):
        cfg = neuron
    elif neuron is not None:
        cfg = _replace(cfg, dict(neuron), owner, "")
    if keys:
        cfg = _replace(cfg, dict(keys), owner, prefix)
    return _checked(cfg)


def neuron_keys(prefix: str = "") -> set[str]:
    """Keyword names of the :class:`AdLIFConfig` fields, with ``prefix`` where it applies."""
    return {_key(field, prefix) for field in AdLIFConfig._fields}


def _key(field: str, prefix: str) -> str:
    return field if field in ("dt", "surrogate", "backend") else prefix + field


def _replace(cfg: AdLIFConfig, given: dict[str, Any], owner: str, prefix: str) -> AdLIFConfig:
    names = {_key(f, prefix): f for f in AdLIFConfig._fields}
    for key in given:
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"{owner} got an unknown neuron argument {key!r}{hint}")
    return cfg._replace(**{names[k]: v for k, v in given.items()})


def _checked(cfg: AdLIFConfig) -> AdLIFConfig:
    from . import engine  # the registry of back-ends (imports the neuron equations)
    from .surrogate import SURROGATES

    lims = {name: check_range(name, getattr(cfg, name))
            for name in ("tauu_lim", "tauw_lim", "a_lim", "b_lim")}
    if lims["tauu_lim"][0] <= 0 or lims["tauw_lim"][0] <= 0:
        raise ValueError("time constants must be positive: check tauu_lim and tauw_lim")
    if cfg.surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {cfg.surrogate!r}; choose one of {sorted(SURROGATES)}")
    return AdLIFConfig(**lims, use_normal_init=bool(cfg.use_normal_init),
                       threshold=float(cfg.threshold), dt=check_positive("dt", cfg.dt),
                       surrogate=str(cfg.surrogate), backend=engine.check_backend(cfg.backend))


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


#: SpArch (Bittar & Garner, 2022): decays ``alpha`` in ``[e^{-1/5}, e^{-1/25}]``
#: (5..25 steps), ``beta`` in ``[e^{-1/30}, e^{-1/120}]``, ``a`` in ``[-1, 1]``, ``b`` in
#: ``[0, 2]``; ``dt`` 10 ms, the frame shift of its audio features (spike-train tasks:
#: ``max_time / nb_steps``, 14 ms on SHD).
SPARCH = SpArchDefaults(alpha_lim=(math.exp(-1 / 5), math.exp(-1 / 25)),
                        beta_lim=(math.exp(-1 / 30), math.exp(-1 / 120)),
                        a_lim=(-1.0, 1.0), b_lim=(0.0, 2.0), threshold=1.0, dt=10.0)

#: Decay range of the non-spiking readouts, SPARSE's and SpArch's alike (time constants of 5 to
#: 25 steps).
READOUT_ALPHA_LIM = SPARCH.alpha_lim
