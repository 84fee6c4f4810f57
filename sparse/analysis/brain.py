"""The analysis ``Brain``: run a trained SPARSE encoder with SpeechBrain, record every population.

Used by every recipe's ``run_analysis.py`` (TIMIT, Speech Commands) through
:func:`run_analysis`. The Brain needs the training YAML's ``compute_features``, ``normalize``
(module), ``hop_length`` (ms per frame) and ``model`` (a spiking encoder, which states its
populations, ``dt`` and ``spike_lag``: :func:`~sparse.analysis.recording.populations_of`); it
runs each chosen
utterance and, as its paired control, a noise input of the same length
(:data:`~sparse.analysis.recording.NOISE_CONTROLS`): by default Gaussian noise with the
utterance's magnitude spectrum (its Fourier phases randomised), so that speech and control
differ only in their temporal structure. SPARSE's control (its run_analysis.py) was unit noise
in feature space.

What is kept per utterance is small (population signals and firing rates, see
:func:`~sparse.analysis.recording.record_utterance`); full spike trains, features and
waveform are kept only for the example utterance used by the figures. Spikes are aligned to
feature frames: SPARSE's convolution padding delays them by the nerve's ``lag`` (4 steps per
7-frame conv stage, as upstream pads ``k_t`` frames on each side); those leading steps are
dropped.

Everything after the recording (tests, figures, report) is :mod:`.pipeline`, which does not
import SpeechBrain.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import speechbrain as sb
import torch

from ..data.noise import gaussian_noise_like, spectrum_matched_noise
from ..errors import ConfigError, RecipeError
from .pipeline import PhoneFn, analyse, analysis_folder, settings
from .recording import NOISE_CONTROLS, Recording, populations_of, record_utterance

__all__ = ["AnalysisBrain", "record", "require_checkpoint", "check_before_writing",
           "run_analysis"]

logger = logging.getLogger(__name__)


class AnalysisBrain(sb.Brain):
    """Runs a trained encoder on the chosen utterances and on noise; fills :attr:`recording`.

    Attributes set by the caller before :meth:`evaluate`: ``noise_control`` (a key of
    :data:`NOISE_CONTROLS`), ``example_index`` (which utterance to keep in full),
    ``noise_seed``.
    """

    noise_control = "spectrum"
    example_index = 0
    noise_seed = 0

    def _encoder(self) -> torch.nn.Module:
        model = self.modules.model
        return getattr(model, "module", model)

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Load the best checkpoint, then set up the recording."""
        super().on_evaluate_start(max_key=max_key, min_key=min_key)
        self.populations = populations_of(self._encoder())
        self.recording = Recording.of(self.populations)
        self.generator = torch.Generator().manual_seed(int(self.noise_seed))

    def _features(self, wavs: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        feats = self.hparams.compute_features(wavs)
        return self.modules.normalize(feats, lens) if "normalize" in self.modules else feats

    def compute_forward(self, batch, stage):
        """Speech and noise through features (+ normaliser) and the encoder."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        feats = self._features(wavs, lens)
        if self.noise_control == "features":
            noise_wavs, noise_feats = None, torch.randn(feats.shape, generator=self.generator)
            noise_feats = noise_feats.to(feats.device)
        elif self.noise_control in ("white", "spectrum"):
            make = gaussian_noise_like if self.noise_control == "white" else spectrum_matched_noise
            noise_wavs = make(wavs, lens, self.generator)
            noise_feats = self._features(noise_wavs, lens)
        else:
            raise ValueError(
                f"noise_control must be one of {sorted(NOISE_CONTROLS)}, "
                f"got {self.noise_control!r}"
            )
        out = {}
        for cond, f, w in (("speech", feats, wavs), ("noise", noise_feats, noise_wavs)):
            encoded, spikes = self.modules.model(f, return_spikes=True)
            out[cond] = (f, w, encoded, spikes)
        return out, lens

    def compute_objectives(self, predictions, batch, stage):
        """Record the batch (no loss: returns 0)."""
        out, lens = predictions
        for cond, (feats, wavs, encoded, spikes) in out.items():
            for b, uid in enumerate(batch.id):
                self._record(cond, uid, b, lens[b].item(), feats, wavs, encoded, spikes)
        return torch.zeros((), device=self.device)

    def _record(self, cond, uid, b, rel, feats, wavs, encoded, spikes) -> None:
        """Utterance ``b`` of the batch (relative length ``rel``) into the recording."""
        frames = int(round(rel * feats.shape[1]))
        trains = zip(self.populations.trains, spikes, strict=True)
        wave = None if wavs is None else wavs[b, : int(round(rel * wavs.shape[1]))].cpu().numpy()
        record_utterance(
            self.recording, self.populations, cond, uid,
            {name: s[b].detach().cpu().numpy() for name, s in trains}, frames,
            waveform=wave, sample_rate=self.hparams.sample_rate,
            feats=feats[b, :frames].detach().cpu().numpy(),
            outputs=encoded[b].detach().cpu().numpy(), example_index=self.example_index,
        )


def require_checkpoint(checkpointer, train_command: str, min_key: str | None = None) -> Path:
    """The best checkpoint's folder, or a clear error naming the training command.

    Raises
    ------
    sparse.errors.RecipeError
        If the checkpointer holds no checkpoint.
    """
    ckpt = checkpointer.find_checkpoint(min_key=min_key) if min_key \
        else checkpointer.find_checkpoint()
    if ckpt is None:
        raise RecipeError(
            f"no trained checkpoint in {checkpointer.checkpoints_dir}; "
            f"train first with: {train_command}"
        )
    return Path(ckpt.path)


def check_before_writing(train_hp: Mapping[str, Any], analysis_cfg: Mapping[str, Any],
                         splits: Mapping[str, str]) -> Path:
    """Every check that needs no output: split, settings and a trained checkpoint.

    Parameters
    ----------
    train_hp : mapping
        Training hyperparameters (``checkpointer``).
    analysis_cfg : mapping
        The analysis YAML: ``split``, ``train_command`` and the keys of
        :data:`~sparse.analysis.pipeline.DEFAULTS`.
    splits : mapping
        The recipe's split names (to the training YAML's manifest keys).

    Returns
    -------
    Path
        The checkpoint the analysis will load.

    Raises
    ------
    sparse.errors.ConfigError
        On an unknown split or a bad setting (e.g. ``noise_control``).
    sparse.errors.RecipeError
        Without a checkpoint (naming the training command).
    """
    if analysis_cfg["split"] not in splits:
        raise ConfigError(f"split must be one of {', '.join(splits)}, "
                          f"got {analysis_cfg['split']!r}")
    cfg = settings(analysis_cfg)
    return require_checkpoint(train_hp["checkpointer"], analysis_cfg["train_command"],
                              cfg["min_key"])


def record(train_hp: dict, cfg: Mapping[str, Any], dataset, run_opts: dict,
           train_command: str) -> AnalysisBrain:
    """Load the best checkpoint, run the utterances and noise; return the Brain.

    Its ``recording`` and ``populations`` are what :func:`~sparse.analysis.pipeline.analyse`
    reads.
    """
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
    """Record with the Brain, then test PAC, draw the figures and write the report.

    Parameters
    ----------
    train_hp : dict
        Loaded training hyperparameters (``modules``, ``checkpointer``, ``output_folder``,
        ``compute_features``, ``hop_length``, ``sample_rate``).
    analysis_cfg : mapping
        Analysis settings (see :data:`~sparse.analysis.pipeline.DEFAULTS`).
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
        Every file written, in ``<output_folder>/analysis/``.
    """
    cfg = settings(analysis_cfg)
    out = analysis_folder(train_hp)
    out.mkdir(parents=True, exist_ok=True)
    brain = record(train_hp, cfg, dataset, run_opts, train_command)
    return analyse(brain.recording, brain.populations, cfg, out,
                   f"PAC report: {train_hp['output_folder']}", model=brain._encoder(),
                   phones=phones, progress=not run_opts.get("noprogressbar", False))
