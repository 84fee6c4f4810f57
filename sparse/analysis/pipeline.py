"""The whole analysis of a trained model: record, test, draw, report.

A recipe's ``run_analysis.py`` loads its training YAML (encoder, features, normaliser,
checkpointer, output folder) and its analysis YAML, builds the dataset of utterances to
analyse, and calls :func:`run_analysis`. Everything lands in ``<output_folder>/analysis/``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import figures
from .brain import AnalysisBrain, Example, require_checkpoint
from .report import PACSettings, csv_rows, run_pac, text_report, usable_bands, write_csv

logger = logging.getLogger(__name__)

#: Keys of an analysis YAML read here, with their defaults.
DEFAULTS: dict[str, Any] = {
    "num_utterances": 64, "analysis_batch_size": 8, "min_key": None, "noise_control": "waveform",
    "analysis_seed": 1986, "example_utterance": 0, "pac_populations": None,
    "phase_bands": ["delta", "theta", "alpha", "beta"],
    "amplitude_bands": ["low_gamma", "high_gamma"], "n_surrogates": 1000, "alpha": 0.05,
    "min_shift_s": None, "trim_s": 0.25, "figure_phase_population": "nerve",
    "figure_amplitude_population": "cortex3", "figure_phase_band": "theta",
    "figure_amplitude_band": "low_gamma", "figure_surrogates": 2000, "dpi": 150,
}  # fmt: skip

PhoneFn = Callable[[Example, float], tuple[list[tuple[float, float, str]], str] | None]


def settings(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The analysis settings: ``cfg`` over :data:`DEFAULTS` (unknown keys are ignored)."""
    return {k: cfg.get(k, v) for k, v in DEFAULTS.items()}


def _pac_populations(rec, cfg) -> list[str]:
    names = cfg["pac_populations"] or rec.populations
    unknown = [n for n in names if n not in rec.populations]
    if unknown:
        raise ValueError(f"pac_populations {unknown} not among recorded {rec.populations}")
    return list(names)


def _figure_choice(rec, cfg, name: str, fallback: str) -> str:
    value = cfg[name]
    if value in rec.populations:
        return value
    logger.warning("%s %r not recorded; using %r", name, value, fallback)
    return fallback


def record(train_hp: dict, cfg: dict, dataset, run_opts: dict, train_command: str):
    """Load the best checkpoint, run the utterances and noise; return the Brain."""
    ckpt = require_checkpoint(train_hp["checkpointer"], train_command, cfg["min_key"])
    logger.info("analysing checkpoint %s", ckpt)
    brain = AnalysisBrain(modules=train_hp["modules"], hparams=train_hp, run_opts=run_opts,
                          checkpointer=train_hp["checkpointer"])
    brain.noise_control = cfg["noise_control"]
    brain.example_index = int(cfg["example_utterance"])
    brain.noise_seed = int(cfg["analysis_seed"])
    brain.evaluate(dataset, min_key=cfg["min_key"],
                   test_loader_kwargs={"batch_size": int(cfg["analysis_batch_size"])})
    return brain


def run_analysis(train_hp: dict, analysis_cfg: Mapping[str, Any], dataset, run_opts: dict,
                 train_command: str, phones: PhoneFn | None = None) -> list[Path]:
    """Record, test PAC, write figures (PNG) and the report (text + CSV).

    Parameters
    ----------
    train_hp : dict
        Loaded training hyperparameters (``modules``, ``checkpointer``, ``output_folder``,
        ``compute_features``, ``hop_length``, ``sample_rate``).
    analysis_cfg : mapping
        Analysis settings (see :data:`DEFAULTS`).
    dataset : speechbrain DynamicItemDataset
        The utterances, with output keys ``id`` and ``sig``.
    run_opts : dict
        SpeechBrain run options.
    train_command : str
        Shown in the error when no checkpoint exists.
    phones : callable, optional
        ``phones(example, dt_s) -> (segments [(start_s, end_s, label)], title) or None``.

    Returns
    -------
    list of Path
        Every file written.
    """
    cfg = settings(analysis_cfg)
    out = Path(train_hp["output_folder"]) / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    brain = record(train_hp, cfg, dataset, run_opts, train_command)
    rec, encoder = brain.recording, brain._encoder()
    if not rec.ids:
        raise ValueError("no utterance was analysed (empty dataset)")
    cfg["example_utterance"] = min(int(cfg["example_utterance"]), len(rec.ids) - 1)
    rng = np.random.default_rng(int(cfg["analysis_seed"]))
    phase_bands, dropped_p = usable_bands(cfg["phase_bands"], rec.fs)
    amp_bands, dropped_a = usable_bands(cfg["amplitude_bands"], rec.fs)
    if not phase_bands or not amp_bands:
        raise ValueError(f"no phase or amplitude band below Nyquist {rec.fs / 2:g} Hz")
    pac_cfg = PACSettings(_pac_populations(rec, cfg), phase_bands, amp_bands,
                          int(cfg["n_surrogates"]), float(cfg["alpha"]), cfg["min_shift_s"],
                          float(cfg["trim_s"]))
    results = run_pac(rec, pac_cfg, rng, progress=not run_opts.get("noprogressbar", False))
    files = [out / "pac_significance.csv", out / "pac_significance.txt"]
    write_csv(csv_rows(rec, pac_cfg, results), files[0])
    header = f"PAC significance report: {train_hp['output_folder']}"
    files[1].write_text(text_report(rec, pac_cfg, results, dropped_p + dropped_a, header))
    files += draw(rec, encoder, brain, cfg, pac_cfg, results, phones, out, rng)
    logger.info("analysis written to %s (%d files)", out, len(files))
    return files


def draw(rec, encoder, brain, cfg, pac_cfg, results, phones, out: Path, rng) -> list[Path]:
    """Every figure, one PNG each."""
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
        figures.save(figures.parameters_figure(encoder), out / "parameters.png", dpi),
        figures.save(figures.weights_figure(encoder), out / "weights.png", dpi),
        figures.save(figures.rates_figure(rec, spiking), out / "firing_rates.png", dpi),
    ]
    for cond, example in rec.examples.items():
        found = phones(example, dt_s) if phones is not None and cond == "speech" else None
        segments, title = found if found else (None, "")
        what = f"utterance {example.id}" if cond == "speech" else \
            f"Gaussian noise as long as utterance {example.id}"
        fig = figures.raster_figure(example, brain.pop_index, dt_s, f"Spikes, {cond} input: {what}",
                                    segments, title)
        files.append(figures.save(fig, out / f"raster_{cond}.png", dpi))
        bands = [b for b in (*pac_cfg.phase_bands, *pac_cfg.amplitude_bands)]
        fig = figures.filtered_figure(rec, cond, utt, [phase_pop, amp_pop], bands,
                                      trim_s=float(cfg["trim_s"]))
        files.append(figures.save(fig, out / f"filtered_populations_{cond}.png", dpi))
    fig = figures.pac_figure(rec, utt, phase_pop, amp_pop, pband, aband,
                             int(cfg["figure_surrogates"]), rng, float(cfg["trim_s"]))
    files.append(figures.save(fig, out / f"pac_{phase_pop}_{pband}_{amp_pop}_{aband}.png"
                              .replace(" ", "-"), dpi))
    fig = figures.significance_figure(pac_cfg.populations, pac_cfg.phase_bands,
                                      pac_cfg.amplitude_bands, results, pac_cfg.alpha)
    files.append(figures.save(fig, out / "pac_significance.png", dpi))
    return files
