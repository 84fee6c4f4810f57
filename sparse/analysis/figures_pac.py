"""Figures of the PAC tests: the speech-vs-noise contrast (the headline) and the tests within
each condition, as population × population matrices, one per phase band × amplitude band.

Splitting the tests this way keeps every label readable: P populations give P tick labels per
axis instead of P·(P+1)/2 pair labels on one axis (78 for the 12 populations of TIMIT).
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure, SubFigure

from . import plots
from .batch import ordered_pairs
from .report import METRIC_NAMES, METRICS, PACRun, PACSettings

__all__ = [
    "DZ_LIMIT", "NOTE", "conditions_figure", "contrast_figure", "fit", "matrix_grid",
    "pair_matrix", "short_labels"
]

DZ_LIMIT = 1.5  # colour range of the contrast's d_z (values beyond are clipped)
NOTE = "cN = cortex layer N, wave = waveform"


def fit(text: str, fig: Figure, points: float) -> str:
    """Wrap each line of ``text`` to the figure's width for a font of ``points`` pt."""
    chars = max(int(fig.get_figwidth() * 72 / (0.55 * points)), 20)
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def short_labels(names: list[str]) -> list[str]:
    """Population names as drawn on the axes: 'cortex2 AdLIF' → 'c2 AdLIF'.

    Examples
    --------
    >>> short_labels(["waveform", "nerve", "cortex2 AdLIF", "all"])
    ['wave', 'nerve', 'c2 AdLIF', 'all']
    """
    return [n.replace("waveform", "wave").replace("cortex", "c") for n in names]


def pair_matrix(values: np.ndarray, n_populations: int) -> np.ndarray:
    """Values (pairs, ...) over pairs i ≤ j → matrices (..., P, P), NaN below the diagonal.

    Examples
    --------
    >>> pair_matrix(np.arange(3.0), 2).tolist()
    [[0.0, 1.0], [nan, 2.0]]
    """
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape[1:] + (n_populations, n_populations), np.nan)
    for k, (i, j) in enumerate(ordered_pairs(n_populations)):
        out[..., i, j] = values[k]
    return out


def matrix_grid(fig: Figure | SubFigure, cfg: PACSettings, values: np.ndarray, title: str,
                cbar_label: str, marks: np.ndarray | None = None,
                weak: np.ndarray | None = None, **style) -> None:
    """One matrix per amplitude band (rows) × phase band (columns) and one colour bar.

    ``values``, ``marks``, ``weak``: (pairs, phase bands, amplitude bands).
    """
    n_pop = len(cfg.populations)
    mats = pair_matrix(values, n_pop)  # (Bp, Ba, P, P)
    masks = [None if m is None else pair_matrix(m, n_pop) > 0 for m in (marks, weak)]
    rows, cols = len(cfg.amplitude_bands), len(cfg.phase_bands)
    axes = fig.subplots(rows, cols, squeeze=False)  # not shared: tick labels differ per axis
    labels = short_labels(cfg.populations)
    for a, row in enumerate(axes):
        for b, ax in enumerate(row):
            plots.plot_pair_matrix(
                ax, mats[b, a], labels, xlabels=a == rows - 1, ylabels=b == 0,
                marks=None if masks[0] is None else masks[0][b, a],
                weak=None if masks[1] is None else masks[1][b, a],
                title=f"{plots.pretty(cfg.phase_bands[b])} phase → "
                      f"{plots.pretty(cfg.amplitude_bands[a])} amp.", **style)
    for ax in axes[:, 0]:
        ax.set_ylabel("phase population", fontsize="small")
    for ax in axes[-1]:
        ax.set_xlabel("amplitude population", fontsize="small")
    bar = fig.colorbar(axes[0, 0].images[-1], ax=axes, shrink=0.8, aspect=30, extend="both"
                       if style.get("cmap") == "RdBu_r" else "max")
    bar.set_label(cbar_label, fontsize="small")
    fig.suptitle(title, fontsize="medium")


def _size(cfg: PACSettings, blocks_x: int, blocks_y: int) -> tuple[float, float]:
    cell = 0.17 * len(cfg.populations) + 0.5  # inches per matrix
    return (blocks_x * (cell * len(cfg.phase_bands) + 1.6) + 0.4,
            blocks_y * (cell * len(cfg.amplitude_bands) + 1.9) + 0.6)


def contrast_figure(cfg: PACSettings, run: PACRun, n_utterances: int | None = None) -> Figure:
    """The headline: paired effect size d_z (speech − noise) per test, significance marked.

    One block per metric (Tort MI, Canolty MVL), each a grid of population × population
    matrices (rows: amplitude bands, columns: phase bands).
    """
    fig = Figure(figsize=_size(cfg, 1, len(run.contrast)), layout="constrained")
    blocks = fig.subfigures(len(run.contrast), 1, squeeze=False)[:, 0]
    counts = []
    for sub, (m, res) in zip(blocks, run.contrast.items(), strict=True):
        q = np.nan_to_num(res.q, nan=1.0)
        sig = q <= cfg.alpha
        weak = (res.tests.p <= cfg.alpha) & ~sig
        up, down = int((sig & (res.tests.difference > 0)).sum()), int(
            (sig & (res.tests.difference < 0)).sum())
        counts.append(f"{METRIC_NAMES[m]} {up} (noise > speech: {down})")
        stat = ("surrogate z of " if cfg.contrast_statistic == "z" else "raw ") + METRIC_NAMES[m]
        dz = np.clip(np.nan_to_num(res.tests.dz, nan=0.0), -DZ_LIMIT, DZ_LIMIT)
        matrix_grid(
            sub, cfg, np.where(np.isfinite(res.q), dz, np.nan), f"{METRIC_NAMES[m]}: d_z "
            f"of speech − noise in {stat}; ● q ≤ {cfg.alpha:g} ({int(sig.sum())} of "
            f"{int(np.isfinite(res.q).sum())}), × p ≤ {cfg.alpha:g} only",
            "d_z = mean / s.d. of (speech − noise)\nred: more coupling for speech",
            sig, weak, cmap="RdBu_r", vmin=-DZ_LIMIT, vmax=DZ_LIMIT)
    n = next(iter(run.contrast.values())).tests.n_utterances.max()
    title = ("Does speech drive phase-amplitude coupling that its matched noise does not?\n"
             f"Paired over {n_utterances or int(n)} utterances (sign-flip test, "
             f"Benjamini–Hochberg per metric); {NOTE}\n"
             f"speech > noise at q ≤ {cfg.alpha:g}: " + "; ".join(counts))
    fig.suptitle(fit(title, fig, 11), fontsize="large")
    return fig


def conditions_figure(cfg: PACSettings, run: PACRun) -> Figure:
    """Within each condition: mean surrogate z over utterances, group test q ≤ α marked.

    Blocks: rows metric, columns condition; colour ranges shared within a metric.
    """
    conds = list(run.conditions)
    fig = Figure(figsize=_size(cfg, len(conds), len(METRICS)), layout="constrained")
    blocks = fig.subfigures(len(METRICS), len(conds), squeeze=False)
    for m, row in zip(METRICS, blocks, strict=True):
        z = {c: getattr(run.conditions[c].group, "z_" + m) for c in conds}
        top = max(float(np.nanmax(np.where(np.isfinite(v), v, 0.0))) for v in z.values())
        for cond, sub in zip(conds, row, strict=True):
            res = run.conditions[cond]
            q = res.q[f"group_{m}"]
            sig = np.nan_to_num(q, nan=1.0) <= cfg.alpha
            values = np.where(np.isfinite(q), z[cond], np.nan)
            matrix_grid(sub, cfg, values, f"{cond}, {METRIC_NAMES[m]}: group test "
                        f"q ≤ {cfg.alpha:g} ● ({int(sig.sum())} of {int(np.isfinite(q).sum())})",
                        "mean z over utterances\n(statistic vs its surrogates)", sig,
                        cmap="viridis", vmin=0.0, vmax=max(top, 1.0))
    fig.suptitle(fit("Coupling within each input against circular-shift surrogates (the "
                     "network couples bands for any input: only the contrast, "
                     f"pac_significance.png, compares speech with noise); {NOTE}", fig, 11),
                 fontsize="large")
    return fig

