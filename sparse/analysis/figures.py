"""Figure layouts of the analysis: each builds one ``Figure`` from the drawing functions of
:mod:`sparse.analysis.plots` (no pyplot state); :func:`save` writes it as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from . import plots
from .batch import band_analytic, far_masks, surrogate_shifts
from .brain import CONDITIONS, Recording, neuron_modules
from .pac import binned_amplitude
from .signals import BANDS, bandpass
from .stats import permutation_pvalue
from .surrogates import default_min_shift, surrogate_pac_fft


def save(fig: Figure, path: Path, dpi: int = 150) -> Path:
    """Write ``fig`` as PNG and return the path."""
    fig.savefig(path, dpi=dpi)
    return path


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def parameters_figure(encoder: torch.nn.Module) -> Figure:
    """Rows: nerve and cortex layers; columns: τu (ms), τw (ms), a, b (trained, constrained)."""
    names, modules = encoder.population_names, neuron_modules(encoder)
    fig = Figure(figsize=(14, 2.6 * len(names)), layout="constrained")
    axes = fig.subplots(len(names), 4, squeeze=False)
    for row, (name, module) in zip(axes, zip(names, modules, strict=True), strict=True):
        consts = module.effective_parameters()
        adlif = _numpy(module.sfa_mask).astype(bool)
        cols = (("tau_u", "τu (ms)", False), ("tau_w", "τw (ms)", True), ("a", "a", True),
                ("b", "b", True))
        for ax, (key, label, only) in zip(row, cols, strict=True):
            plots.plot_lif_adlif_histogram(ax, _numpy(getattr(consts, key)), adlif, label,
                                           title=f"{name}: {label}", adlif_only=only)
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
    """Phone labels, spectrogram and the raster of every layer (LIF / AdLIF grouped)."""
    layers = list(example.spikes)
    ratios = ([0.35] if phones is not None else []) + [1.2] + [1.6] * len(layers)
    fig = Figure(figsize=(12, sum(ratios) * 1.3 + 0.8), layout="constrained")
    axes = fig.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    duration = example.feats.shape[0] * dt_s
    k = 0
    if phones is not None:
        plots.plot_phone_labels(axes[0], phones, duration, title=phones_title)
        k = 1
    plots.plot_spectrogram(axes[k], example.feats, dt_s)
    for ax, name in zip(axes[k + 1 :], layers, strict=True):
        groups = [(n.split(" ")[-1], idx) for n, (_, idx) in pop_index.items()
                  if n.startswith(name + " ")] or None
        plots.plot_raster(ax, example.spikes[name], dt_s, name, groups)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title)
    return fig


def mean_rates(rec: Recording, cond: str, name: str) -> np.ndarray:
    """Per-neuron rate (Hz) over all utterances: total spikes / total duration."""
    rates = np.stack(rec.rates_hz[cond][name])  # (U, N)
    weights = np.asarray(rec.durations_s)[: len(rates), None]
    return (rates * weights).sum(axis=0) / max(weights.sum(), 1e-12)


def rates_figure(rec: Recording, names: Sequence[str]) -> Figure:
    """Single-neuron firing-rate histograms: rows populations, columns speech | noise."""
    bands = {b: v for b, v in BANDS.items() if v[0] < rec.fs / 2}
    fig = Figure(figsize=(11, 2.3 * len(names)), layout="constrained")
    axes = fig.subplots(len(names), 2, squeeze=False)
    for r, (row, name) in enumerate(zip(axes, names, strict=True)):
        for c, (ax, cond) in enumerate(zip(row, CONDITIONS, strict=True)):
            plots.plot_rate_histogram(ax, mean_rates(rec, cond, name), f"{name} ({cond})",
                                      rec.fs, bands, legend=r == 0 and c == 0)
    fig.suptitle(f"Firing rates over {len(rec.ids)} utterances (bands shaded; max {rec.fs:g} Hz)")
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
        plots.plot_band_signal(ax, t, traces, band, BANDS[band])
        if trim_s > 0:
            ax.axvspan(0.0, trim_s, color="0.85", linewidth=0, label="not used for PAC")
    axes[0].legend(fontsize="small", ncol=len(pops) + 1, loc="upper right")
    axes[-1].set_xlabel("time (s)")
    what = f"utterance {rec.ids[utt]}" if cond == "speech" else \
        f"Gaussian noise as long as utterance {rec.ids[utt]}"
    fig.suptitle(f"Band-filtered population signals, {cond} input: {what} "
                 f"(first {shown / rec.fs:.2g} s)")
    return fig


def pac_figure(rec: Recording, utt: int, phase_pop: str, amp_pop: str, phase_band: str,
               amp_band: str, n_surrogates: int, rng: np.random.Generator,
               trim_s: float = 0.0) -> Figure:
    """PAC of one pair: phase-binned amplitude, MI and MVL nulls; rows speech | noise.

    ``trim_s`` seconds are dropped at both ends after filtering, as in the report.
    """
    trim = int(round(trim_s * rec.fs))
    fig = Figure(figsize=(14, 7.5), layout="constrained")
    axes = fig.subplots(2, 3)
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
        steps = phase.size
        shifts = surrogate_shifts(steps, n_surrogates, rng)
        far = far_masks(shifts, steps, rec.fs, [BANDS[phase_band]])[0]
        mi, mvl = surrogate_pac_fft(phase, amp, shifts)
        p_mi = float(permutation_pvalue(mi[1:], mi[0], far))
        p_mvl = float(permutation_pvalue(mvl[1:], mvl[0], far))
        title = (f"{cond}: {phase_pop} {plots.pretty(phase_band)} phase → {amp_pop} "
                 f"{plots.pretty(amp_band)} amplitude")
        plots.plot_phase_amplitude(row[0], binned_amplitude(phase, amp), mi[0], mvl[0], p_mi,
                                   p_mvl, title)
        plots.plot_null_histogram(row[1], mi[1:][far], mi[0], p_mi, "Tort MI")
        plots.plot_null_histogram(row[2], mvl[1:][far], mvl[0], p_mvl, "Canolty MVL")
        quiet = [p for p in (phase_pop, amp_pop) if rec.silent[cond][utt].get(p)]
        if quiet:
            row[0].text(0.5, 0.5, f"silent population: {', '.join(quiet)}\n(no spikes: no PAC)",
                        ha="center", va="center", transform=row[0].transAxes, color="tab:red",
                        bbox={"facecolor": "w"})
    shift = default_min_shift(steps, rec.fs, BANDS[phase_band][0]) / rec.fs
    fig.suptitle(f"Utterance {rec.ids[utt]}: circular-shift surrogates at least {shift:.3g} s "
                 "from the original; p = (1 + #null ≥ obs) / (1 + N), uncorrected")
    return fig


def significance_figure(populations: Sequence[str], phase_bands: Sequence[str],
                        amp_bands: Sequence[str], results: dict, alpha: float) -> Figure:
    """Share of utterances with PAC after BH (q ≤ α): rows metric, columns speech | noise."""
    from .batch import ordered_pairs

    pairs = ordered_pairs(len(populations))
    cols = [f"{populations[i]} → {populations[j]}" for i, j in pairs]
    rows = [f"{plots.pretty(p)} / {plots.pretty(a)}" for p in phase_bands for a in amp_bands]
    fig = Figure(figsize=(max(8, 0.22 * len(cols) + 3), 4 * (0.3 * len(rows) + 2.2)),
                 layout="constrained")
    axes = fig.subplots(4, 1, squeeze=False)[:, 0]
    panels = [(m, c) for m in ("mi", "mvl") for c in CONDITIONS]
    for ax, (metric, cond) in zip(axes, panels, strict=True):
        q = results[cond].q[f"utt_{metric}"]  # (U, pairs, Bp, Ba)
        share = np.nanmean(q <= alpha, axis=0).reshape(len(pairs), -1).T
        name = "Tort MI" if metric == "mi" else "Canolty MVL"
        group = (results[cond].q[f"group_{metric}"] <= alpha).reshape(len(pairs), -1).T
        plots.plot_significance_matrix(
            ax, share, rows, cols,
            f"{name}, {cond}: share of utterances with q ≤ {alpha:g}; "
            f"red dot: group test q ≤ {alpha:g} ({int(group.sum())} of {group.size})")
        r, c = np.nonzero(group)
        ax.scatter(c, r, s=12, color="tab:red", marker="o")
        ax.set_ylabel("phase / amplitude band", fontsize="small")
    axes[-1].set_xlabel("phase population → amplitude population")
    fig.suptitle("Phase → amplitude coupling per population pair and band pair "
                 "(Benjamini–Hochberg over all utterances, pairs and bands)")
    return fig
