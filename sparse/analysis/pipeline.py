"""The analysis of a recorded model: PAC tests, figures, report.

:func:`analyse` takes a :class:`~sparse.analysis.recording.Recording` and the
:class:`~sparse.analysis.recording.Populations` it was recorded with (named populations,
``dt``, lag), whatever ran the model, and writes every table, figure and the report. A
recipe's ``run_analysis.py`` records with SpeechBrain through
:func:`sparse.analysis.brain.run_analysis`, which ends here; everything lands in
``<output_folder>/analysis/`` (:func:`analysis_folder`). This module does not import
SpeechBrain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from . import figures, figures_pac
from .recording import NOISE_CONTROLS, Example, Populations, Recording
from .report import PACSettings, contrast_rows, csv_rows, run_pac, usable_bands, write_csv
from .report_text import text_report, used_vs_asked

__all__ = ["DEFAULTS", "PhoneFn", "analyse", "analysis_folder", "draw", "settings"]

logger = logging.getLogger(__name__)

#: Keys of an analysis YAML read here, with their defaults.
DEFAULTS: dict[str, Any] = {
    "num_utterances": 64, "analysis_batch_size": 8, "min_key": None, "noise_control": "spectrum",
    "analysis_seed": 1986, "example_utterance": 0, "pac_populations": None,
    "phase_bands": ["delta", "theta", "alpha", "beta"],
    "amplitude_bands": ["low_gamma", "high_gamma"], "n_surrogates": 1000, "alpha": 0.05,
    "min_shift_s": None, "trim_s": 0.25, "contrast_statistic": "z",
    "contrast_permutations": 9999, "bootstrap_samples": 2000, "ci_level": 0.95,
    "figure_phase_population": "nerve",
    "figure_amplitude_population": "cortex3", "figure_phase_band": "theta",
    "figure_amplitude_band": "low_gamma", "figure_surrogates": 2000, "dpi": 150,
}  # fmt: skip

PhoneFn = Callable[[Example, float], tuple[list[tuple[float, float, str]], str] | None]


def settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The analysis settings: ``cfg`` over :data:`DEFAULTS` (unknown keys are ignored).

    Raises
    ------
    sparse.errors.ConfigError
        On an unknown ``noise_control``.
    """
    out = {k: cfg.get(k, v) for k, v in DEFAULTS.items()}
    if out["noise_control"] not in NOISE_CONTROLS:
        raise ConfigError(f"noise_control must be one of {sorted(NOISE_CONTROLS)}, "
                          f"got {out['noise_control']!r}")
    return out


def analysis_folder(train_hp: Mapping[str, Any]) -> Path:
    """Where the analysis writes: ``<output_folder>/analysis``."""
    return Path(train_hp["output_folder"]) / "analysis"


def _pac_populations(rec, cfg) -> list[str]:
    names = cfg["pac_populations"] or rec.populations
    unknown = [n for n in names if n not in rec.populations]
    if unknown:
        raise ConfigError(f"pac_populations {unknown} not among recorded {rec.populations}")
    return list(names)


def _figure_choice(rec, cfg, name: str, fallback: str) -> str:
    value = cfg[name]
    if value in rec.populations:
        return value
    logger.warning("%s %r not recorded; using %r", name, value, fallback)
    return fallback


def analyse(rec: Recording, pops: Populations, analysis_cfg: Mapping[str, Any], out: Path,
            title: str, *, model=None, phones: PhoneFn | None = None,
            progress: bool = True) -> list[Path]:
    """Test PAC (per condition and speech vs noise), write figures, tables and the report.

    Parameters
    ----------
    rec : Recording
        The recorded utterances, speech and noise.
    pops : Populations
        The populations ``rec`` was recorded with (groups for the rasters).
    analysis_cfg : mapping
        Analysis settings (see :data:`DEFAULTS`).
    out : Path
        Existing folder the files go to.
    title : str
        First line of the report.
    model : nn.Module, optional
        A SPARSE encoder (``populations()``, ``cortex``): draws its trained neuron
        parameters and synaptic weights.
    phones : callable, optional
        ``phones(example, dt_s) -> (segments [(start_s, end_s, label)], title) or None``.
    progress : bool
        Progress bars over the PAC tests.

    Returns
    -------
    list of Path
        Every file written.

    Raises
    ------
    sparse.errors.DataError
        If nothing was recorded.
    sparse.errors.ConfigError
        If no band fits below Nyquist, or a PAC population was not recorded.
    """
    cfg = settings(analysis_cfg)
    # matplotlib's DEBUG and INFO records (font matching, colour bars) would fill log.txt
    logging.getLogger("matplotlib").setLevel(max(logging.WARNING, logging.getLogger().level))
    if not rec.ids:
        raise DataError("no utterance was analysed (empty dataset)")
    notes = []
    if len(rec.ids) < int(cfg["num_utterances"]):
        notes.append(f"num_utterances: {cfg['num_utterances']} asked, {len(rec.ids)} used "
                     "(all the split holds)")
    if int(cfg["example_utterance"]) >= len(rec.ids):
        notes.append(f"example_utterance: {cfg['example_utterance']} asked, "
                     f"{len(rec.ids) - 1} used (the last)")
        cfg["example_utterance"] = len(rec.ids) - 1
    rng = np.random.default_rng(int(cfg["analysis_seed"]))
    phase_bands, dropped_p = usable_bands(cfg["phase_bands"], rec.fs)
    amp_bands, dropped_a = usable_bands(cfg["amplitude_bands"], rec.fs)
    if not phase_bands or not amp_bands:
        raise ConfigError(f"no phase or amplitude band below Nyquist {rec.fs / 2:g} Hz")
    pac_cfg = PACSettings(
        _pac_populations(rec, cfg), phase_bands, amp_bands, int(cfg["n_surrogates"]),
        float(cfg["alpha"]), cfg["min_shift_s"], float(cfg["trim_s"]),
        str(cfg["contrast_statistic"]), int(cfg["contrast_permutations"]),
        int(cfg["bootstrap_samples"]), float(cfg["ci_level"]))
    logger.info("PAC tests: %d utterances x 2 inputs, %d populations, %d x %d bands",
                len(rec.ids), len(pac_cfg.populations), len(phase_bands), len(amp_bands))
    run = run_pac(rec, pac_cfg, rng, progress=progress)
    files, figure_notes = draw(rec, pops, model, cfg, pac_cfg, run, phones, out, rng)
    notes += figure_notes
    for note in [*notes, *used_vs_asked(rec, pac_cfg, run)]:
        logger.warning("%s", note)
    tables = [out / "pac_contrast.csv", out / "pac_significance.csv", out / "pac_significance.txt"]
    write_csv(contrast_rows(pac_cfg, run), tables[0])
    write_csv(csv_rows(rec, pac_cfg, run), tables[1])
    report = text_report(rec, pac_cfg, run, title, noise_control=cfg["noise_control"],
                         dropped=dropped_p + dropped_a, notes=notes)
    tables[2].write_text(report)
    head = report.split("\n\nDEFINITIONS")[0]
    logger.info("PAC report (head):\n%s", head)
    logger.info("analysis written to %s (%d files)", out, len(files) + len(tables))
    return tables + files


def draw(rec: Recording, pops: Populations, model, cfg, pac_cfg, run, phones, out: Path, rng
         ) -> tuple[list[Path], list[str]]:
    """Every figure, one PNG each; and notes where a figure used less than was asked.

    The parameter and weight figures need a SPARSE encoder ``model`` (left out without one).
    """
    dpi, dt_s = int(cfg["dpi"]), 1.0 / rec.fs
    utt = int(cfg["example_utterance"])
    spiking = [n for n in rec.populations if n not in ("waveform", "all")]
    phase_pop = _figure_choice(rec, cfg, "figure_phase_population", spiking[0])
    amp_pop = _figure_choice(rec, cfg, "figure_amplitude_population", spiking[-1])
    pband = cfg["figure_phase_band"] if cfg["figure_phase_band"] in pac_cfg.phase_bands \
        else pac_cfg.phase_bands[0]
    aband = cfg["figure_amplitude_band"]
    aband = aband if aband in pac_cfg.amplitude_bands else pac_cfg.amplitude_bands[0]
    files = [
        figures.save(figures_pac.contrast_figure(pac_cfg, run), out / "pac_significance.png",
                     dpi),
        figures.save(figures_pac.conditions_figure(pac_cfg, run), out / "pac_conditions.png",
                     dpi),
    ]
    if model is not None:
        files += [figures.save(figures.parameters_figure(model), out / "parameters.png", dpi),
                  figures.save(figures.weights_figure(model), out / "weights.png", dpi)]
    files.append(figures.save(figures.rates_figure(rec, spiking), out / "firing_rates.png", dpi))
    for cond, example in rec.examples.items():
        found = phones(example, dt_s) if phones is not None and cond == "speech" else None
        segments, title = found if found else (None, "")
        what = f"utterance {example.id}" if cond == "speech" else \
            f"matched noise of utterance {example.id}"
        fig = figures.raster_figure(example, pops.groups, dt_s, f"Spikes, {cond} input: {what}",
                                    segments, title)
        files.append(figures.save(fig, out / f"raster_{cond}.png", dpi))
        bands = [*pac_cfg.phase_bands, *pac_cfg.amplitude_bands]
        fig = figures.filtered_figure(rec, cond, utt, [phase_pop, amp_pop], bands,
                                      trim_s=float(cfg["trim_s"]))
        files.append(figures.save(fig, out / f"filtered_populations_{cond}.png", dpi))
    fig, shown = figures.pac_figure(rec, utt, phase_pop, amp_pop, pband, aband,
                                    int(cfg["figure_surrogates"]), rng, float(cfg["trim_s"]),
                                    pac_cfg.min_shift_samples(rec.fs))
    name = f"pac_{phase_pop}_{pband}_{amp_pop}_{aband}.png".replace(" ", "-")
    files.append(figures.save(fig, out / name, dpi))
    notes = []
    if min(shown) < int(cfg["figure_surrogates"]):
        notes.append(f"figure_surrogates: {cfg['figure_surrogates']} asked, {min(shown)} shown in "
                     f"{name} (every admissible shift of the utterance)")
    return files, notes
