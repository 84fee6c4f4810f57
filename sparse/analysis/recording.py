"""What the analysis keeps of a spiking model's run, whatever model and runner produced it.

A model is described to the analysis by :class:`Populations`: the names of its spike trains
(network order), the populations analysed in them (a whole train, or a subset of its
neurons such as the LIF and AdLIF halves of a layer), the time step ``dt`` (ms) and the
``lag`` (steps by which the spike trains lag the input frames). :func:`record_utterance`
turns one utterance's named spike trains, and its waveform when there is one, into
population signals and firing rates (Hz) in a :class:`Recording`, which :mod:`.report`,
:mod:`.figures` and :mod:`.pipeline` read.

Nothing here imports SpeechBrain: any model that yields named spike trains can be analysed.
:func:`populations_of` describes any spiking model of the package (the spiking-network
protocol of :mod:`sparse.neurons.network`: populations with their LIF/AdLIF split, ``dt``,
``spike_lag``); :mod:`.brain` runs the SPARSE recipes' encoders with SpeechBrain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..neurons.network import unwrap
from .signals import decimate, zscore

__all__ = ["CONDITIONS", "NOISE_CONTROLS", "Example", "Populations", "Recording",
           "populations_of", "record_utterance"]

CONDITIONS = ("speech", "noise")

#: Noise inputs paired with each utterance, all of its length: ``spectrum`` = the waveform with
#: random Fourier phases (same magnitude spectrum and RMS, no temporal structure); ``white`` =
#: white Gaussian noise with the utterance's RMS; ``features`` = N(0, 1) at the encoder input
#: (no waveform).
NOISE_CONTROLS = {
    "spectrum": "Gaussian noise with the utterance's magnitude spectrum (phase-randomised)",
    "white": "white Gaussian noise with the utterance's RMS",
    "features": "N(0, 1) features at the encoder input",
}


@dataclass(frozen=True)
class Populations:
    """How the analysis reads a model's spike trains.

    Attributes
    ----------
    trains : tuple of str
        Names of the spike trains in network order (``nerve``, ``cortex1``, ...): the keys
        given to :func:`record_utterance`.
    groups : dict of str to (str, ndarray)
        Every analysed population: name -> (its spike train, indices of its neurons).
    dt_ms : float
        Time step of the spike trains and of the input frames, in ms.
    lag : int
        Steps by which the spike trains lag the input frames: step ``t + lag`` belongs to
        frame ``t`` (``AuditoryNerve.lag``; 0 for models without a convolution).
    """

    trains: tuple[str, ...]
    groups: dict[str, tuple[str, np.ndarray]]
    dt_ms: float
    lag: int = 0

    @classmethod
    def from_masks(cls, adaptive: Mapping[str, np.ndarray], dt_ms: float,
                   lag: int = 0) -> Populations:
        """Each train a population, plus its LIF and AdLIF halves when it has both.

        Parameters
        ----------
        adaptive : mapping of str to ndarray
            Per spike train, in network order, which neurons adapt ``(N,)`` bool.
        dt_ms, lag
            As the attributes.
        """
        groups: dict[str, tuple[str, np.ndarray]] = {}
        for name, mask in adaptive.items():
            mask = np.asarray(mask, dtype=bool)
            groups[name] = (name, np.arange(mask.size))
            if mask.any() and not mask.all():
                groups[f"{name} LIF"] = (name, np.flatnonzero(~mask))
                groups[f"{name} AdLIF"] = (name, np.flatnonzero(mask))
        return cls(tuple(adaptive), groups, float(dt_ms), int(lag))

    @property
    def fs(self) -> float:
        """Rate of the population signals, ``1000 / dt_ms`` Hz."""
        return 1000.0 / self.dt_ms

    @property
    def names(self) -> list[str]:
        """Every recorded signal: the waveform, each group, and all spiking neurons together."""
        return ["waveform", *self.groups, "all"]


def populations_of(model) -> Populations:
    """:class:`Populations` of a spiking model, as the model states them.

    Its spiking populations (``network().populations``, with the neurons that adapt), its
    ``dt`` (ms per step, the one source of the time step) and its ``spike_lag``.

    Parameters
    ----------
    model : nn.Module
        A :class:`~sparse.neurons.network.SpikingNetwork`: :class:`~sparse.ASREncoder`,
        :class:`~sparse.KWSEncoder`, :class:`~sparse.MultilayeredSpiking`, a SpArch
        :class:`~sparse.SNN` (or a DDP wrapper of one).
    """
    model = unwrap(model)
    adaptive = {p.name: p.adaptive_mask().numpy() for p in model.network().populations
                if p.spiking}
    return Populations.from_masks(adaptive, float(model.dt), int(model.spike_lag))


@dataclass
class Example:
    """Everything the figures need about one utterance in one condition."""

    id: str
    feats: np.ndarray  # (T, n_mels)
    spikes: dict[str, np.ndarray]  # train name → (T, N) uint8, aligned to feature frames
    waveform: np.ndarray | None  # (samples,) or None (feature-space noise)
    outputs: np.ndarray  # encoder output (T_out, F) of the utterance (e.g. CTC frames)


@dataclass
class Recording:
    """Population signals and rates of every analysed utterance, per condition."""

    fs: float  # population-signal rate (Hz) = 1 / dt
    populations: list[str]
    ids: list[str] = field(default_factory=list)
    durations_s: list[float] = field(default_factory=list)
    signals: dict[str, list[dict[str, np.ndarray]]] = field(
        default_factory=lambda: {c: [] for c in CONDITIONS})
    silent: dict[str, list[dict[str, bool]]] = field(
        default_factory=lambda: {c: [] for c in CONDITIONS})
    rates_hz: dict[str, dict[str, list[np.ndarray]]] = field(
        default_factory=lambda: {c: {} for c in CONDITIONS})
    examples: dict[str, Example] = field(default_factory=dict)

    @classmethod
    def of(cls, pops: Populations) -> Recording:
        """An empty recording of ``pops`` (:attr:`Populations.names`, at :attr:`Populations.fs`)."""
        return cls(fs=pops.fs, populations=pops.names)


def record_utterance(
    rec: Recording,
    pops: Populations,
    cond: str,
    uid: str,
    spikes: Mapping[str, np.ndarray],
    frames: int,
    *,
    waveform: np.ndarray | None = None,
    sample_rate: float | None = None,
    feats: np.ndarray | None = None,
    outputs: np.ndarray | None = None,
    example_index: int = 0,
) -> None:
    """Add one utterance in one condition to ``rec``: population signals and rates (Hz).

    The spike trains are aligned to the frames (the first ``lag`` steps dropped) and cut to
    the utterance's ``frames`` (fewer if a train is shorter). Each group's signal is its mean
    spike count per step, z-scored (:func:`~sparse.analysis.signals.zscore`); ``all`` pools
    every neuron of every train; ``waveform`` is the waveform decimated to the signal rate.
    The ``example_index``-th utterance of each condition is kept whole for the figures.

    Parameters
    ----------
    rec : Recording
        Filled in place.
    pops : Populations
        The model's trains, groups, time step and lag.
    cond : str
        One of :data:`CONDITIONS`.
    uid : str
        Utterance id.
    spikes : mapping of str to ndarray
        Every train of ``pops.trains``: ``(T', N)`` 0/1 of this utterance, padding included.
    frames : int
        Valid input frames of the utterance.
    waveform : ndarray, optional
        ``(samples,)`` the utterance's valid samples, at ``sample_rate`` Hz.
    feats : ndarray, optional
        ``(T, F)`` model input, kept for the example.
    outputs : ndarray, optional
        Model output of the utterance, kept for the example.
    example_index : int
        Which utterance (in order of recording) to keep for the figures.
    """
    trains = [np.asarray(spikes[n])[pops.lag : pops.lag + frames] for n in pops.trains]
    steps = min(frames, *(x.shape[0] for x in trains))
    trains = [x[:steps] for x in trains]
    duration = steps / rec.fs
    signals, silent = {}, {}
    if waveform is not None:
        wave = decimate(np.asarray(waveform), sample_rate, rec.fs)
        z = zscore(np.pad(wave, (0, max(0, steps - wave.size)))[:steps])
        signals["waveform"], silent["waveform"] = z.signal, bool(z.silent)
    position = {name: i for i, name in enumerate(pops.trains)}
    for name, (train, idx) in pops.groups.items():
        chosen = trains[position[train]][:, idx]
        z = zscore(chosen.mean(axis=1))
        signals[name], silent[name] = z.signal, bool(z.silent)
        rec.rates_hz[cond].setdefault(name, []).append(chosen.sum(axis=0) / max(duration, 1e-12))
    z = zscore(np.concatenate(trains, axis=1).mean(axis=1))
    signals["all"], silent["all"] = z.signal, bool(z.silent)
    rec.signals[cond].append(signals)
    rec.silent[cond].append(silent)
    if cond == "speech":
        rec.ids.append(uid)
        rec.durations_s.append(duration)
    if len(rec.signals[cond]) - 1 == example_index:
        rec.examples[cond] = Example(
            uid, None if feats is None else np.asarray(feats)[:steps],
            {n: x.astype(np.uint8) for n, x in zip(pops.trains, trains, strict=True)},
            None if waveform is None else np.asarray(waveform),
            None if outputs is None else np.asarray(outputs),
        )
