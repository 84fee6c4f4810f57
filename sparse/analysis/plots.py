"""Matplotlib drawing functions: each takes an ``ax``, draws one thing, returns the ``ax``.

No function here creates a figure, touches pyplot's global state or saves anything; the
figure layouts live in :mod:`sparse.analysis.figures`. Units are on every axis label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from .pac import N_BINS

__all__ = [
    "plot_band_signal", "plot_confusion_matrix", "plot_histogram", "plot_lif_adlif_histogram",
    "plot_null_histogram", "plot_pair_matrix", "plot_phase_amplitude", "plot_phone_labels",
    "plot_raster", "plot_rate_histogram", "plot_spectrogram", "plot_weight_histogram", "pretty"
]

LIF_COLOR, ADLIF_COLOR = "tab:blue", "tab:orange"


def pretty(name: str) -> str:
    """'low_gamma' → 'low gamma'."""
    return name.replace("_", " ")


def plot_histogram(
    ax: Axes, values: np.ndarray, xlabel: str, ylabel: str = "count", bins: int | np.ndarray = 30,
    color: str | None = None, label: str | None = None, title: str | None = None,
) -> Axes:
    """Histogram of ``values`` (any shape, flattened); an empty array draws 'no data'."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size:
        ax.hist(values, bins=bins, color=color, alpha=0.75, label=label)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_lif_adlif_histogram(
    ax: Axes, values: np.ndarray, adlif: np.ndarray, xlabel: str, title: str | None = None,
    adlif_only: bool = False,
) -> Axes:
    """Stacked histogram of a neuron parameter, LIF and AdLIF neurons in two colours.

    Parameters
    ----------
    values : np.ndarray, shape (N,)
    adlif : np.ndarray of bool, shape (N,)
        True for adaptive (AdLIF) neurons.
    adlif_only : bool
        Draw the AdLIF neurons only (parameters that LIF neurons lack: τw, a, b).
    """
    values, adlif = np.asarray(values, float), np.asarray(adlif, bool)
    groups = [(values[adlif], ADLIF_COLOR, f"AdLIF ({adlif.sum()})")]
    if not adlif_only:
        groups.insert(0, (values[~adlif], LIF_COLOR, f"LIF ({(~adlif).sum()})"))
    groups = [g for g in groups if g[0].size]
    if not groups:
        plot_histogram(ax, [], xlabel, "neurons", title=title)
        ax.texts[-1].set_text("no adaptive neurons" if adlif_only else "no neurons")
        return ax
    ax.hist([g[0] for g in groups], bins=25, stacked=True, color=[g[1] for g in groups],
            label=[g[2] for g in groups])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("neurons")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_weight_histogram(ax: Axes, weights: np.ndarray, title: str, bins: int = 200) -> Axes:
    """Histogram of synaptic weights with a dashed line at 0 and the share of each sign."""
    w = np.asarray(weights, dtype=float).ravel()
    plot_histogram(ax, w, "weight", "synapses", bins=bins, color="0.35", title=title)
    if w.size:
        ax.axvline(0.0, color="tab:red", linestyle="--", linewidth=1)
        text = f"≤ 0: {np.mean(w <= 0):.1%}\n> 0: {np.mean(w > 0):.1%}\nn = {w.size:,}"
        ax.text(0.98, 0.95, text, ha="right", va="top", transform=ax.transAxes, fontsize="small")
    return ax


def plot_spectrogram(ax: Axes, feats: np.ndarray, dt_s: float, title: str | None = None) -> Axes:
    """Log-mel features (T, n_mels) as an image, time in s on x, mel bin on y."""
    feats = np.asarray(feats, dtype=float)
    extent = (0.0, feats.shape[0] * dt_s, 0, feats.shape[1])
    ax.imshow(feats.T, aspect="auto", origin="lower", extent=extent, cmap="magma",
              interpolation="nearest")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_phone_labels(ax: Axes, segments: Sequence[tuple[float, float, str]], duration_s: float,
                      title: str | None = None) -> Axes:
    """Phone labels as alternating shaded spans with their names, on a bare strip axis.

    Parameters
    ----------
    segments : sequence of (start_s, end_s, label)
    duration_s : float
        x range of the strip.
    """
    for k, (start, end, label) in enumerate(segments):
        ax.axvspan(start, end, color="0.85" if k % 2 else "0.95", linewidth=0)
        ax.text((start + end) / 2, 0.5, label, ha="center", va="center", fontsize="x-small",
                clip_on=True)
    if not segments:
        ax.text(0.5, 0.5, "no phones", ha="center", va="center", transform=ax.transAxes,
                fontsize="small", color="0.4")
    ax.set_xlim(0.0, duration_s)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="medium", loc="left")
    return ax


def plot_raster(ax: Axes, spikes: np.ndarray, dt_s: float, name: str,
                groups: Sequence[tuple[str, np.ndarray]] | None = None) -> Axes:
    """Spike raster of a population (T, N) as an image, time in s on x.

    Where there are more steps or neurons than pixels, the grey level is the share of
    (step, neuron) cells with a spike under each pixel.

    Neurons are sorted by firing rate (least active at the bottom) within each group, e.g.
    ``[("LIF", idx), ("AdLIF", idx)]``; groups are stacked and separated by a line.
    """
    spikes = np.asarray(spikes) > 0
    groups = groups or [("", np.arange(spikes.shape[1]))]
    counts = spikes.sum(axis=0)
    order = np.concatenate([idx[np.argsort(counts[idx], kind="stable")] for _, idx in groups])
    image = spikes[:, order].T.astype(np.float32)  # (N, T); grey = spike density per pixel
    ax.imshow(image, aspect="auto", origin="lower", cmap="Greys", vmin=0.0, vmax=1.0,
              extent=(0.0, spikes.shape[0] * dt_s, -0.5, spikes.shape[1] - 0.5),
              interpolation="antialiased")
    if not image.any():
        ax.text(0.5, 0.5, "no spikes", ha="center", va="center", transform=ax.transAxes)
    start = 0
    for label, idx in groups:
        if start:
            ax.axhline(start - 0.5, color="tab:red", linewidth=0.8)
        if label:
            ax.text(1.0, start + len(idx) / 2, f" {label}", transform=ax.get_yaxis_transform(),
                    va="center", ha="left", fontsize="x-small", color="tab:red")
        start += len(idx)
    ax.set_xlim(0.0, spikes.shape[0] * dt_s)
    ax.set_ylim(-0.5, spikes.shape[1] - 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"{name}\nneuron (by rate)", fontsize="small")
    return ax


def plot_rate_histogram(ax: Axes, rates_hz: np.ndarray, name: str, top_hz: float) -> Axes:
    """Histogram of single-neuron firing rates (Hz) from 0 to ``top_hz`` (40 bins).

    Pass the same ``top_hz`` to panels that should be compared (e.g. speech and noise).
    """
    rates = np.asarray(rates_hz, dtype=float).ravel()
    bins = np.linspace(0.0, top_hz, 41)
    plot_histogram(ax, rates, "firing rate (Hz)", "neurons", bins=bins, color="0.25", title=name)
    if rates.size:
        ax.axvline(rates.mean(), color="tab:red", linewidth=1)
        text = f"mean {rates.mean():.3g} Hz (red)\nsilent: {np.mean(rates == 0):.0%}"
        ax.text(0.98, 0.95, text, ha="right", va="top", transform=ax.transAxes,
                fontsize="small", bbox={"facecolor": "w", "alpha": 0.7, "linewidth": 0})
    ax.set_xlim(0.0, top_hz)
    return ax


def plot_band_signal(ax: Axes, t_s: np.ndarray, traces: Mapping[str, np.ndarray], band: str,
                     limits: tuple[float, float], unit: str) -> Axes:
    """Band-filtered population signals over time (s), one line per population, y in ``unit``."""
    for name, trace in traces.items():
        ax.plot(t_s, trace, linewidth=0.8, label=name)
    ax.set_ylabel(f"{pretty(band)}\n{limits[0]:g}–{limits[1]:g} Hz\n({unit})", fontsize="small")
    ax.margins(x=0)
    return ax


def plot_phase_amplitude(ax: Axes, mean_amp: np.ndarray, mi: float, mvl: float,
                         p_mi: float, p_mvl: float, title: str) -> Axes:
    """Normalised mean amplitude per phase bin, two cycles (0–720°) as in Tort et al. (2010)."""
    mean_amp = np.asarray(mean_amp, dtype=float)
    total = mean_amp.sum()
    p = mean_amp / total if total > 0 else np.full(N_BINS, 1.0 / N_BINS)
    width = 360.0 / p.size
    centres = (np.arange(2 * p.size) + 0.5) * width
    ax.bar(centres, np.tile(p, 2), width=width * 0.9, color="tab:purple")
    ax.axhline(1.0 / p.size, color="0.4", linestyle=":", linewidth=1, label="uniform")
    ax.set_xlim(0, 720)
    ax.set_xticks(np.arange(0, 721, 180))
    ax.set_xlabel("phase (degrees; 0 = −π)")
    ax.set_ylabel("normalised mean amplitude")
    ax.set_title(f"{title}\nMI = {mi:.2e} (p = {p_mi:.3g}), MVL = {mvl:.3g} (p = {p_mvl:.3g})",
                 fontsize="medium")
    ax.legend(fontsize="small", loc="lower right")
    return ax


def plot_null_histogram(ax: Axes, null: np.ndarray, observed: float, p_value: float,
                        metric: str) -> Axes:
    """Surrogate null distribution of a statistic with the observed value and its p-value."""
    null = np.asarray(null, dtype=float).ravel()
    plot_histogram(ax, null, metric, "surrogates", bins=40, color="0.6",
                   title=f"{metric}: {null.size} surrogates, p = {p_value:.3g}")
    ax.axvline(observed, color="tab:red", linewidth=1.5, label="observed")
    ax.legend(fontsize="small")
    return ax


def plot_pair_matrix(
    ax: Axes, values: np.ndarray, labels: Sequence[str], *, cmap: str = "viridis",
    vmin: float = 0.0, vmax: float = 1.0, marks: np.ndarray | None = None,
    weak: np.ndarray | None = None, xlabels: bool = True, ylabels: bool = True,
    title: str | None = None,
) -> Axes:
    """Population × population matrix: rows phase population, columns amplitude population.

    Cells without a test (NaN, e.g. the lower triangle) stay white. ``marks`` draws a dot
    (e.g. q ≤ α), ``weak`` a cross (e.g. p ≤ α only), black on light cells and white on dark
    ones. The image is ``ax.images[-1]`` (for a colour bar).

    Parameters
    ----------
    values : np.ndarray, shape (P, P)
    labels : sequence of str, length P
    marks, weak : np.ndarray of bool, shape (P, P), optional
    """
    values = np.asarray(values, dtype=float)
    colours = matplotlib.colormaps[cmap].with_extremes(bad="white")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=colours, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
    rgb = image.to_rgba(np.ma.masked_invalid(values))[..., :3]
    dark = rgb @ np.array([0.299, 0.587, 0.114]) < 0.5
    for mask, marker, size in ((weak, "x", 12), (marks, "o", 14)):
        if mask is not None and np.any(mask):
            r, c = np.nonzero(mask)
            ax.scatter(c, r, marker=marker, s=size, linewidths=0.9 if marker == "x" else 0,
                       c=np.where(dark[r, c], "w", "k"))
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=90, fontsize=7)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.tick_params(length=2, pad=1, labelbottom=xlabels, labelleft=ylabels)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    if title:
        ax.set_title(title, fontsize="small")
    return ax


def plot_confusion_matrix(
    ax: Axes, confusion: np.ndarray, names: Sequence[str], title: str | None = None,
    max_annotated: int = 15,
) -> Axes:
    """Confusion matrix of counts: rows true class, columns predicted class.

    Up to ``max_annotated`` classes, every cell shows its count (white on dark cells). The
    image is ``ax.images[-1]`` (for a colour bar).

    Parameters
    ----------
    confusion : np.ndarray of int, shape (C, C)
    names : sequence of str, length C
        Class names in index order.
    """
    confusion = np.asarray(confusion)
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(names)), labels=names, rotation=90)
    ax.set_yticks(range(len(names)), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    if len(names) <= max_annotated:
        threshold = confusion.max() / 2
        for (i, j), count in np.ndenumerate(confusion):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                    color="white" if count > threshold else "black")
    return ax
