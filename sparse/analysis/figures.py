"""Figure layouts of the analysis: each builds one ``Figure`` from the drawing functions of
:mod:`sparse.analysis.plots` (no pyplot state); :func:`save` writes it as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from . import plots
from .batch import band_analytic
from .pac import binned_amplitude
from .recording import CONDITIONS, Recording
from .signals import BANDS, bandpass
from .stats import permutation_pvalue
from .surrogates import draw_shifts, min_shift, surrogate_pac_fft

__all__ = [
    "confusion_figure", "filtered_figure", "mean_rates", "pac_figure", "parameters_figure",
    "raster_figure", "rates_figure", "save", "weights_figure"
]


def save(fig: Figure, path: Path, dpi: int = 150) -> Path:
    """Write ``fig`` as PNG and return the path."""
    fig.savefig(path, dpi=dpi)
    return path


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def parameters_figure(encoder: torch.nn.Module) -> Figure:
    """Rows: nerve and cortex layers; columns: τu (ms), τw (ms), a, b (trained, constrained)."""
    populations = encoder.populations()
    fig = Figure(figsize=(14, 2.6 * len(populations)), layout="constrained")
    axes = fig.subplots(len(populations), 4, squeeze=False)
    for row, (name, module) in zip(axes, populations.items(), strict=True):
        consts = module.effective_parameters()
        adlif = _numpy(module.sfa_mask).astype(bool)
        cols = (("tau_u", "τu (ms)", False), ("tau_w", "τw (ms)", True), ("a", "a", True),
                ("b", "b", True))
        for ax, (key, label, only) in zip(row, cols, strict=True):
            if only and not adlif.any():
                ax.set_axis_off()  # no adaptive neuron: nothing to draw
                continue
            title = f"{name}: {label}" + ("" if adlif.any() or only else
                                          "\n(LIF only: no τw, a, b)")
            plots.plot_lif_adlif_histogram(ax, _numpy(getattr(consts, key)), adlif, label,
                                           title=title, adlif_only=only)
    fig.suptitle("Neuron parameters after training (τw, a, b: adaptive neurons only)")
    return fig


def weights_figure(encoder: torch.nn.Module) -> Figure:
    """Rows: cortex layers; columns: feed-forward W and recurrent V (existing synapses only)."""
    layers = encoder.cortex.layers
    fig = Figure(figsize=(11, 2.8 * len(layers)), layout="constrained")
    axes = fig.subplots(len(layers), 2, squeeze=False)
    for k, (layer, row) in enumerate(zip(layers, axes, strict=True)):
        w, v = layer.effective_weights()
        ff_mask = getattr(layer, "ff_mask", None)
        w = _numpy(w if ff_mask is None else w[ff_mask.bool()])
        plots.plot_weight_histogram(row[0], w, f"cortex{k + 1}: feed-forward W")
        rec = _numpy(v[layer.neurons.rnn_mask.bool()]) if v is not None else np.array([])
        plots.plot_weight_histogram(row[1], rec, f"cortex{k + 1}: recurrent V")
    fig.suptitle("Synaptic weights after training")
    return fig


def raster_figure(example, pop_index: dict, dt_s: float, title: str,
                  phones: Sequence[tuple[float, float, str]] | None, phones_title: str) -> Figure:
    """Phone labels, spectrogram and the raster of every layer (LIF / AdLIF grouped).

    Colour bars sit in a narrow second column, so every time axis has the same width.
    """
    layers = list(example.spikes)
    ratios = ([0.35] if phones is not None else []) + [1.2] + [1.6] * len(layers)
    fig = Figure(figsize=(12, sum(ratios) * 1.3 + 0.8), layout="constrained")
    grid = fig.add_gridspec(len(ratios), 2, height_ratios=ratios, width_ratios=[1, 0.012])
    axes = [fig.add_subplot(grid[0, 0])]
    axes += [fig.add_subplot(grid[r, 0], sharex=axes[0]) for r in range(1, len(ratios))]
    duration = example.feats.shape[0] * dt_s
    k = 0
    if phones is not None:
        plots.plot_phone_labels(axes[0], phones, duration, title=phones_title)
        k = 1
    plots.plot_spectrogram(axes[k], example.feats, dt_s)
    bar = fig.colorbar(axes[k].images[-1], cax=fig.add_subplot(grid[k, 1]))
    bar.set_label("log-mel,\nnormalised\n(s.d.)", fontsize="x-small")
    for row, (ax, name) in enumerate(zip(axes[k + 1 :], layers, strict=True)):
        groups = [(n.split(" ")[-1], idx) for n, (_, idx) in pop_index.items()
                  if n.startswith(name + " ")] or None
        plots.plot_raster(ax, example.spikes[name], dt_s, name, groups)
        if row == 0:
            bar = fig.colorbar(ax.images[-1], cax=fig.add_subplot(grid[k + 1, 1]))
            bar.set_label("spike share\nper pixel", fontsize="x-small")
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title)
    return fig


def mean_rates(rec: Recording, cond: str, name: str) -> np.ndarray:
    """Per-neuron rate (Hz) over all utterances: total spikes / total duration."""
    rates = np.stack(rec.rates_hz[cond][name])  # (U, N)
    weights = np.asarray(rec.durations_s)[: len(rates), None]
    return (rates * weights).sum(axis=0) / max(weights.sum(), 1e-12)


def rates_figure(rec: Recording, names: Sequence[str]) -> Figure:
    """Single-neuron firing-rate histograms: rows populations, columns speech | noise.

    Both columns of a row share the rate axis (0 to the largest rate of either input).
    """
    fig = Figure(figsize=(11, 2.3 * len(names)), layout="constrained")
    axes = fig.subplots(len(names), 2, squeeze=False)
    for row, name in zip(axes, names, strict=True):
        rates = {cond: mean_rates(rec, cond, name) for cond in CONDITIONS}
        top = max(max(float(r.max(initial=0.0)) for r in rates.values()), 1.0)
        for ax, cond in zip(row, CONDITIONS, strict=True):
            plots.plot_rate_histogram(ax, rates[cond], f"{name} ({cond})", top)
    fig.suptitle(f"Firing rate of each neuron over {len(rec.ids)} utterances "
                 f"(at most one spike per step: {rec.fs:g} Hz)")
    return fig


def filtered_figure(rec: Recording, cond: str, utt: int, pops: Sequence[str],
                    bands: Sequence[str], seconds: float = 2.0, trim_s: float = 0.0) -> Figure:
    """Band-filtered population signals of one utterance: rows bands, one line per population.

    The first ``trim_s`` seconds, left out of the PAC statistics, are shaded.
    """
    sig = rec.signals[cond][utt]
    pops = [p for p in pops if p in sig]  # no waveform for feature-space noise
    steps = min(len(sig[p]) for p in pops)
    shown = min(steps, int(seconds * rec.fs))
    t = np.arange(shown) / rec.fs
    fig = Figure(figsize=(11, 1.5 * len(bands) + 1), layout="constrained")
    axes = fig.subplots(len(bands), 1, sharex=True, squeeze=False)[:, 0]
    for ax, band in zip(axes, bands, strict=True):
        silent = rec.silent[cond][utt]
        traces = {p + (" (silent)" if silent.get(p) else ""):
                  bandpass(sig[p][:steps], BANDS[band], rec.fs)[:shown] for p in pops}
        plots.plot_band_signal(ax, t, traces, band, BANDS[band], "s.d.")
        if trim_s > 0:
            ax.axvspan(0.0, trim_s, color="0.85", linewidth=0, label="not used for PAC")
    axes[0].legend(fontsize="small", ncol=len(pops) + 1, loc="upper right")
    axes[-1].set_xlabel("time (s)")
    what = f"utterance {rec.ids[utt]}" if cond == "speech" else \
        f"matched noise of utterance {rec.ids[utt]}"
    fig.suptitle(f"Band-filtered population signals, {cond} input: {what} "
                 f"(first {shown / rec.fs:.2g} s)\ny: band-passed population signal in s.d. of "
                 "the unfiltered signal (z-scored over the utterance before filtering)",
                 fontsize="medium")
    return fig


def pac_figure(rec: Recording, utt: int, phase_pop: str, amp_pop: str, phase_band: str,
               amp_band: str, n_surrogates: int, rng: np.random.Generator,
               trim_s: float = 0.0, min_shift_samples: int | None = None
               ) -> tuple[Figure, list[int]]:
    """PAC of one pair: phase-binned amplitude, MI and MVL nulls; rows speech | noise.

    ``trim_s`` seconds are dropped at both ends after filtering, as in the report. Surrogates
    are drawn from the shifts at least the minimum shift from 0 (``min_shift_samples`` asked,
    default one period of the phase band's lower edge, capped as in the report; all of them
    if there are fewer than ``n_surrogates``).

    Returns
    -------
    (Figure, list of int)
        The figure and the number of surrogates drawn per row.
    """
    trim = int(round(trim_s * rec.fs))
    fig = Figure(figsize=(14, 7.5), layout="constrained")
    axes = fig.subplots(2, 3)
    shown, shifts_s = [], []
    for row, cond in zip(axes, CONDITIONS, strict=True):
        sig = rec.signals[cond][utt]
        if phase_pop not in sig or amp_pop not in sig:
            for ax in row:
                ax.set_axis_off()
            row[1].text(0.5, 0.5, f"{cond}: no {phase_pop if phase_pop not in sig else amp_pop} "
                        "signal for this input\n(feature-space noise has no waveform)",
                        ha="center", va="center", transform=row[1].transAxes)
            continue
        steps = min(len(sig[phase_pop]), len(sig[amp_pop]))
        phase, _ = band_analytic(sig[phase_pop][None, :steps], rec.fs, [BANDS[phase_band]])
        _, amp = band_analytic(sig[amp_pop][None, :steps], rec.fs, [BANDS[amp_band]])
        phase, amp = phase[0, 0, trim : steps - trim], amp[0, 0, trim : steps - trim]
        shift = min_shift(phase.size, rec.fs, BANDS[phase_band][0], min_shift_samples)
        shifts = draw_shifts(phase.size, n_surrogates, shift.used, rng)
        shown.append(shifts.size)
        shifts_s.append(shift.used / rec.fs)
        mi, mvl = surrogate_pac_fft(phase, amp, np.concatenate([[0], shifts]))
        p_mi = float(permutation_pvalue(mi[1:], mi[0]))
        p_mvl = float(permutation_pvalue(mvl[1:], mvl[0]))
        title = (f"{cond}: {phase_pop} {plots.pretty(phase_band)} phase → {amp_pop} "
                 f"{plots.pretty(amp_band)} amplitude")
        plots.plot_phase_amplitude(row[0], binned_amplitude(phase, amp), mi[0], mvl[0], p_mi,
                                   p_mvl, title)
        plots.plot_null_histogram(row[1], mi[1:], mi[0], p_mi, "Tort MI")
        plots.plot_null_histogram(row[2], mvl[1:], mvl[0], p_mvl, "Canolty MVL")
        quiet = [p for p in (phase_pop, amp_pop) if rec.silent[cond][utt].get(p)]
        if quiet:
            row[0].text(0.5, 0.5, f"silent population: {', '.join(quiet)}\n(no spikes: no PAC)",
                        ha="center", va="center", transform=row[0].transAxes, color="tab:red",
                        bbox={"facecolor": "w"})
    drawn = f"{min(shown)}" if shown else "0"
    used = f"{min(shifts_s):.3g} s" if shifts_s else "n/a"
    fig.suptitle(f"Utterance {rec.ids[utt]}: {drawn} circular-shift surrogates ({n_surrogates} "
                 f"asked) at least {used} from the original; p = (1 + #null ≥ obs) / (1 + N), "
                 "one utterance, uncorrected")
    return fig, shown or [0]


def confusion_figure(confusion: np.ndarray, names: Sequence[str], title: str) -> Figure:
    """Labelled confusion matrix of a classifier's test counts (rows true, columns predicted).

    Parameters
    ----------
    confusion : np.ndarray of int, shape (C, C)
    names : sequence of str, length C
        Class names in index order.
    title : str
    """
    size = max(4.0, 0.35 * len(names) + 2.0)
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.subplots()
    plots.plot_confusion_matrix(ax, confusion, names, title)
    fig.colorbar(ax.images[-1], ax=ax, label="clips")
    fig.tight_layout()
    return fig
