"""The analysis ``Brain``: run a trained spiking encoder and record every population.

Used by every recipe's ``run_analysis.py`` (TIMIT, Speech Commands). The Brain needs the
training YAML's ``compute_features``, ``normalize`` (module) and ``model`` (an encoder with
``population_names``, ``nerve.neurons`` and ``cortex.layers[i].neurons``); it runs each chosen
utterance and, as its paired control, a noise input of the same length (:data:`NOISE_CONTROLS`):
by default Gaussian noise with the utterance's magnitude spectrum (its Fourier phases
randomised), so that speech and control differ only in their temporal structure. SPARSE's
control (SPEC §4.1) was unit noise in feature space.

What is kept per utterance is small (population signals and firing rates); full spike
trains, features and waveform are kept only for the example utterance used by the figures.
Spikes are aligned to feature frames: SPARSE's convolution padding delays them by ``k_t``
frames per conv stage and adds ``k_t + 1`` (SPEC §6 item 6); those leading steps are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import speechbrain as sb
import torch

from .signals import decimate, zscore

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


@dataclass
class Example:
    """Everything the figures need about one utterance in one condition."""

    id: str
    feats: np.ndarray  # (T, n_mels)
    spikes: dict[str, np.ndarray]  # layer name → (T, N) uint8, aligned to feature frames
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


def neuron_modules(encoder: torch.nn.Module) -> list[torch.nn.Module]:
    """The neuron module of each entry of ``encoder.population_names`` (nerve, cortex layers)."""
    return [encoder.nerve.neurons] + [layer.neurons for layer in encoder.cortex.layers]


def population_index(encoder: torch.nn.Module) -> dict[str, tuple[int, np.ndarray]]:
    """Populations: each layer, and its LIF / AdLIF halves (by ``sfa_mask``) when both exist.

    Returns
    -------
    dict
        name → (index into the encoder's spike list, neuron indices (n,)).
    """
    out: dict[str, tuple[int, np.ndarray]] = {}
    pairs = zip(encoder.population_names, neuron_modules(encoder), strict=True)
    for i, (name, module) in enumerate(pairs):
        adlif = module.sfa_mask.detach().cpu().numpy().astype(bool)
        out[name] = (i, np.arange(adlif.size))
        if adlif.any() and not adlif.all():
            out[f"{name} LIF"] = (i, np.flatnonzero(~adlif))
            out[f"{name} AdLIF"] = (i, np.flatnonzero(adlif))
    return out


def frame_offset(encoder: torch.nn.Module) -> int:
    """Steps by which the spikes lag the feature frames (0 with 'same' time padding)."""
    nerve = encoder.nerve
    if getattr(nerve, "time_padding", "same") != "upstream":
        return 0
    return len(nerve.convs) * ((nerve.kernel_time + 1) // 2)


def gaussian_noise_like(
    wavs: torch.Tensor, lens: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """White Gaussian noise with each utterance's RMS over its true length (zeros after it)."""
    steps = wavs.shape[1]
    valid = torch.arange(steps, device=wavs.device)[None] < (lens * steps).round()[:, None]
    rms = ((wavs * valid) ** 2).sum(1).div(valid.sum(1).clamp(min=1)).sqrt()
    noise = torch.randn(wavs.shape, generator=gen, device="cpu").to(wavs.device)
    return noise * rms[:, None] * valid


def spectrum_matched_noise(
    wavs: torch.Tensor, lens: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """Each utterance with random Fourier phases: same length, magnitude spectrum and RMS.

    Over each utterance's true length the real FFT keeps its magnitudes and gets phases
    uniform in [0, 2π) (DC and, for even lengths, Nyquist keep theirs, so the output is
    real); the inverse FFT is stationary Gaussian-like noise with exactly the utterance's
    power spectrum (Parseval: the same RMS) and none of its temporal envelope. Zeros after
    the true length.

    Parameters
    ----------
    wavs : torch.Tensor, shape (batch, samples)
    lens : torch.Tensor, shape (batch,)
        Relative lengths in (0, 1].
    gen : torch.Generator
        CPU generator for the phases.

    Returns
    -------
    torch.Tensor, shape (batch, samples)
    """
    out = torch.zeros_like(wavs)
    for b in range(wavs.shape[0]):
        n = int(round(float(lens[b]) * wavs.shape[1]))
        if n < 2:
            continue
        spec = torch.fft.rfft(wavs[b, :n].double().cpu())
        phase = 2 * torch.pi * torch.rand(spec.shape, generator=gen, dtype=torch.float64)
        phase[0] = 0.0
        if n % 2 == 0:
            phase[-1] = 0.0
        noise = torch.fft.irfft(spec * torch.exp(1j * phase), n=n)
        out[b, :n] = noise.to(dtype=wavs.dtype, device=wavs.device)
    return out


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
        encoder = self._encoder()
        self.pop_index = population_index(encoder)
        self.offset = frame_offset(encoder)
        self.fs = 1000.0 / float(self.hparams.hop_length)
        names = ["waveform", *self.pop_index, "all"]
        self.recording = Recording(fs=self.fs, populations=names)
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
            encoded, spikes = self.modules.model(f)
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
        steps = int(round(rel * feats.shape[1]))
        layers = [s[b, self.offset : self.offset + steps].detach().cpu().numpy() for s in spikes]
        steps = min(steps, *(x.shape[0] for x in layers))
        layers = [x[:steps] for x in layers]
        rec, duration = self.recording, steps / self.fs
        signals, silent = {}, {}
        if wavs is not None:
            samples = int(round(rel * wavs.shape[1]))
            wave = decimate(wavs[b, :samples].cpu().numpy(), self.hparams.sample_rate, self.fs)
            z = zscore(np.pad(wave, (0, max(0, steps - wave.size)))[:steps])
            signals["waveform"], silent["waveform"] = z.signal, bool(z.silent)
        for name, (i, idx) in self.pop_index.items():
            z = zscore(layers[i][:, idx].mean(axis=1))
            signals[name], silent[name] = z.signal, bool(z.silent)
            rates = layers[i][:, idx].sum(axis=0) / max(duration, 1e-12)
            rec.rates_hz[cond].setdefault(name, []).append(rates)
        z = zscore(np.concatenate(layers, axis=1).mean(axis=1))
        signals["all"], silent["all"] = z.signal, bool(z.silent)
        rec.signals[cond].append(signals)
        rec.silent[cond].append(silent)
        if cond == "speech":
            rec.ids.append(uid)
            rec.durations_s.append(duration)
        if len(rec.signals[cond]) - 1 == self.example_index:
            names = self._encoder().population_names
            rec.examples[cond] = Example(
                uid, feats[b, :steps].detach().cpu().numpy(),
                {n: x.astype(np.uint8) for n, x in zip(names, layers, strict=True)},
                None if wavs is None else wavs[b, : int(round(rel * wavs.shape[1]))].cpu().numpy(),
                encoded[b].detach().cpu().numpy(),
            )


def require_checkpoint(checkpointer, train_command: str, min_key: str | None = None) -> Path:
    """The best checkpoint's folder, or a clear error naming the training command.

    Raises
    ------
    FileNotFoundError
        If the checkpointer holds no checkpoint.
    """
    ckpt = checkpointer.find_checkpoint(min_key=min_key) if min_key \
        else checkpointer.find_checkpoint()
    if ckpt is None:
        raise FileNotFoundError(
            f"no trained checkpoint in {checkpointer.checkpoints_dir}; "
            f"train first with: {train_command}"
        )
    return Path(ckpt.path)
