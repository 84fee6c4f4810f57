"""The base of the inference interfaces: loading a model folder, audio in, spikes out.

:class:`SpikingModel` holds what every kind shares (see :mod:`sparse.inference.interfaces`
for the interfaces themselves and the conventions they follow): ``from_hparams`` over a
local model folder, audio input, the encoder run (:class:`Encoding`: every population's
spikes with their time step) and the operation counts of :mod:`sparse.efficiency`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from speechbrain.inference.interfaces import Pretrained
from torch import Tensor

from ..data.audio import AudioError, load_waveform
from ..efficiency import Efficiency, EnergyModel, Network, count_operations, network_of
from ..neurons.network import SpikingNetwork
from .folder import (
    HPARAMS_FILE,
    KINDS,
    LABELS_FILE,
    InferenceError,
    check_model_folder,
    link_model_folder,
    read_model_folder,
)
from .inputs import check_backend, check_device, local_audio, warn_if_short, waveform_batch

__all__ = ["Encoding", "Classification", "SpikingModel"]


@dataclass
class Encoding:
    """What a spiking encoder did with a batch.

    Attributes
    ----------
    feats : Tensor
        Model input ``(B, T, F)`` (normalised features, or the spike trains of SHD/SSC).
    outputs : Tensor
        Encoder output: ASR ``(B, T_ctc, F)`` phoneme features; classifiers ``(B, C)``
        class posteriors (each row sums to 1).
    spikes : dict of str to Tensor
        Spikes ``(B, T', N)`` (0/1) of every population, in network order.
    dt_ms : float
        Time step of the spike trains, in ms.
    lengths : Tensor
        ``(B,)`` relative lengths (padding after ``round(length * T')``).
    duration_s : Tensor
        ``(B,)`` seconds of model input per example (a keyword-spotting clip: its clip length).
    lag_steps : int
        Steps by which the spikes lag the input frames: step ``t + lag_steps`` is centred on
        frame ``t`` (the SPARSE nerve's upstream conv padding, ``model.spike_lag``; 0 for
        SpArch). With ``spikes``, ``dt_ms`` and this, an encoding describes its model as the
        analysis does (:class:`sparse.analysis.recording.Populations`).
    """

    feats: Tensor
    outputs: Tensor
    spikes: dict[str, Tensor]
    dt_ms: float
    lengths: Tensor
    duration_s: Tensor
    lag_steps: int = 0


class Classification(NamedTuple):
    """One classified input: best label, its probability, and every class's probability."""

    label: str
    probability: float
    posteriors: dict[str, float]


class SpikingModel(Pretrained):
    """Base of the interfaces: loading, audio input, encoding and operation counts.

    Use a subclass, or :func:`load_model` (which picks the subclass from the folder).
    """

    KIND = ""
    HPARAMS_NEEDED = ["kind"]

    def __init__(self, modules=None, hparams=None, run_opts=None, freeze_params=True) -> None:
        super().__init__(modules=modules, hparams=hparams, run_opts=run_opts,
                         freeze_params=freeze_params)
        self.mods.eval()  # also without freezing: batch norm must use its running statistics
        features = getattr(self.hparams, "compute_features", None)
        if isinstance(features, torch.nn.Module):  # not among .mods: moved here
            features.to(self.device)
        self._network: Network | None = None
        self.label_encoder = hparams.get("label_encoder")
        if self.label_encoder is not None:
            n = self.num_outputs()
            if len(self.label_encoder) != n:
                where = hparams.get("model_folder")
                source = f"{Path(where) / LABELS_FILE}" if where is not None else "the labels"
                raise InferenceError(f"{source} holds {len(self.label_encoder)} labels but the "
                                     f"model has {n} outputs: labels and weights are not of the "
                                     "same run")
            self.label_encoder.ignore_len()  # checked just above

    @classmethod
    def from_hparams(
        cls,
        source: str | Path,
        hparams_file: str = HPARAMS_FILE,
        overrides: dict[str, Any] | None = None,
        overrides_must_match: bool = True,
        savedir: str | Path | None = None,
        download_only: bool = False,
        local_strategy=None,
        fetch_config=None,
        huggingface_cache_dir: str | None = None,
        run_opts: dict[str, Any] | None = None,
        freeze_params: bool = True,
    ) -> SpikingModel | None:
        """Load the model folder ``source`` (a local folder; see the module docstring).

        Parameters
        ----------
        source : str or Path
            A model folder (``<output_folder>/model`` of a training run, or a copy).
        hparams_file : str
            Its inference YAML.
        overrides : dict, optional
            Top-level keys of that YAML to change, e.g. ``{"backend": "reference"}``.
        overrides_must_match : bool
            Refuse an override whose key is not in the YAML.
        savedir : str or Path, optional
            Put the folder's files there first (as ``local_strategy`` says) and load those.
        download_only : bool
            Only fill ``savedir``; return ``None``.
        local_strategy : speechbrain.utils.fetching.LocalStrategy, optional
            ``SYMLINK`` (default, as SpeechBrain), ``COPY``, ``COPY_SKIP_CACHE`` or ``NO_LINK``.
        fetch_config, huggingface_cache_dir
            Accepted for SpeechBrain code; unused: nothing is downloaded or cached.
        run_opts : dict or speechbrain.core.RunOptions, optional
            SpeechBrain run options, e.g. ``{"device": "cuda:0"}`` (checked before loading).
        freeze_params : bool
            Freeze the parameters (inference).

        Raises
        ------
        InferenceError
            For a folder that is missing, incomplete or of another kind than ``cls`` loads, an
            unknown override key, a device or neuron back-end this machine lacks.
        """
        folder = check_model_folder(source, hparams_file)
        if savedir is not None:
            folder = link_model_folder(folder, savedir, local_strategy)
        if download_only:
            return None
        from speechbrain.utils.distributed import infer_device

        device = check_device((run_opts.get("device") if isinstance(run_opts, dict) else
                               getattr(run_opts, "device", None)) or infer_device())
        if overrides and "backend" in overrides:  # before the constructors see it
            check_backend(overrides["backend"], device)
        hparams = read_model_folder(folder, hparams_file, overrides, overrides_must_match)
        kind = hparams["kind"]
        if cls.KIND and kind != cls.KIND:
            raise InferenceError(f"{folder} holds a model of kind {kind!r}: load it with "
                                 f"sparse.inference.{KINDS[kind].interface}, not {cls.__name__}")
        if "backend" in hparams:
            check_backend(hparams["backend"], device)
        if cls.KIND:
            target = cls
        else:
            from .interfaces import INTERFACES

            target = INTERFACES[kind]
        hparams["label_encoder"] = target._read_labels(folder / LABELS_FILE)
        return target(modules=hparams["modules"], hparams=hparams, run_opts=run_opts,
                      freeze_params=freeze_params)

    @staticmethod
    def _label_encoder():
        from speechbrain.dataio.encoder import CategoricalEncoder

        return CategoricalEncoder()

    @classmethod
    def _read_labels(cls, path: Path):
        encoder = cls._label_encoder()
        try:
            encoder.load(path)
        except (OSError, ValueError, SyntaxError) as err:  # ValueError: also bad UTF-8
            raise InferenceError(f"cannot read the labels {path}: {err}") from err
        return encoder

    # ---- inputs ---------------------------------------------------------------------------

    @property
    def min_duration_s(self) -> float:
        """Shortest audio, in seconds, of which the model hears something (one window)."""
        stft = getattr(getattr(self.hparams, "compute_features", None), "compute_STFT", None)
        if stft is not None:
            return float(stft.win_length) / float(stft.sample_rate)
        return 0.025  # the Kaldi filterbank's window

    def _min_duration_reason(self) -> str:
        return f"one {1000.0 * self.min_duration_s:g} ms analysis window"

    def load_audio(self, path: str | Path, savedir: str | Path | None = None) -> Tensor:
        """Mono waveform ``(samples,)`` of a local audio file at the model's rate.

        A keyword-spotting clip keeps its own length here; ``*_file`` and ``*_batch`` pad or
        cut it. ``savedir`` is accepted for SpeechBrain code: a local file is read in place.
        """
        hp = self.hparams
        if getattr(hp, "features", "fbank") == "spikes":
            raise InferenceError(f"this model takes spike trains ({hp.nb_inputs} channels), "
                                 "not audio: use spikes_features / classify_features")
        try:
            wave = load_waveform(local_audio(path), hp.sample_rate, hp.resampler)
        except AudioError as err:  # every problem of an interface is an InferenceError
            raise InferenceError(str(err)) from err
        return wave.to(self.device)

    def _file_batch(self, path: str | Path, savedir=None) -> Encoding:
        return self.spikes_batch(self.load_audio(path, savedir)[None], names=[str(path)])

    def features(self, wavs: Tensor, wav_lens: Tensor) -> Tensor:
        """Model input ``(B, T, F)``: filterbank features with hop = dt, normalised."""
        feats = self.hparams.compute_features(wavs)
        return self.mods.normalize(feats, wav_lens) if "normalize" in self.mods else feats

    # ---- the encoder ----------------------------------------------------------------------

    def run_encoder(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The one place that calls the encoder: ``(output, spikes of every population)``."""
        return self.mods.model(feats, return_spikes=True)

    @property
    def spiking(self) -> bool:
        """Whether the model is a spiking network (SpArch's ANN baselines are not)."""
        return isinstance(self.mods.model, SpikingNetwork)

    @property
    def dt_ms(self) -> float:
        """The model's time step in ms (one input frame per step): the one source of ``dt``."""
        return float(self.mods.model.dt)

    @property
    def population_names(self) -> list[str]:
        """Names of the spiking populations, in network order (none for an ANN)."""
        return list(self.mods.model.population_names) if self.spiking else []

    def _outputs(self, out: Tensor) -> Tensor:
        return out

    @torch.no_grad()
    def spikes_features(self, feats: Tensor, lengths: Tensor | None = None,
                        duration_s: Tensor | None = None) -> Encoding:
        """Run the encoder on model input ``(B, T, F)``; see :class:`Encoding`."""
        feats = torch.as_tensor(feats).float().to(self.device)
        if lengths is None:
            lengths = torch.ones(feats.shape[0], device=self.device)
        lengths = torch.as_tensor(lengths).float().to(self.device)
        with self.inference_ctx:
            out, spikes = self.run_encoder(feats, lengths)
        if duration_s is None:
            duration_s = lengths.cpu() * feats.shape[1] * self.dt_ms / 1000.0
        spikes = dict(zip(self.population_names, spikes, strict=True))
        return Encoding(feats, self._outputs(out), spikes, self.dt_ms, lengths,
                        torch.as_tensor(duration_s, dtype=torch.float64).cpu(),
                        int(self.mods.model.spike_lag) if self.spiking else 0)

    def _waveforms(self, wavs: Tensor, wav_lens: Tensor | None,
                   names: list[str] | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Checked waveforms, lengths and seconds of model input per example."""
        rate = float(self.hparams.sample_rate)
        clip = getattr(self.hparams, "clip_samples", None)
        wavs, wav_lens, samples = waveform_batch(wavs, wav_lens, clip, self.device)
        warn_if_short((samples.double() / rate).tolist(), self.min_duration_s,
                      self._min_duration_reason(), names)
        return wavs, wav_lens, wav_lens.double().cpu() * wavs.shape[1] / rate

    @torch.no_grad()
    def spikes_batch(self, wavs: Tensor, wav_lens: Tensor | None = None,
                     names: list[str] | None = None) -> Encoding:
        """Features, encoder output and every population's spikes for waveforms ``(B, S)``.

        ``names`` (one per example) name the inputs in warnings.
        """
        wavs, wav_lens, duration = self._waveforms(wavs, wav_lens, names)
        return self.spikes_features(self.features(wavs, wav_lens), wav_lens, duration)

    def spikes_file(self, path: str | Path, savedir=None) -> Encoding:
        """:meth:`spikes_batch` of one audio file (batch of 1)."""
        return self._file_batch(path, savedir)

    def encode_batch(self, wavs: Tensor, wav_lens: Tensor | None = None) -> Tensor:
        """SpeechBrain's ``encode_batch``: the encoder's output (see :class:`Encoding`)."""
        return self.spikes_batch(wavs, wav_lens).outputs

    def encode_file(self, path: str | Path, **kwargs) -> Tensor:
        """:meth:`encode_batch` of one audio file (``kwargs`` go to :meth:`load_audio`)."""
        return self._file_batch(path, **kwargs).outputs

    def forward(self, wavs: Tensor, wav_lens: Tensor | None = None) -> Any:
        """SpeechBrain's convention: the full model on a batch (see each interface)."""
        return self.encode_batch(wavs, wav_lens)

    # ---- efficiency -----------------------------------------------------------------------

    def network(self) -> Network:
        """The model's populations, projections and dense stages (computed once)."""
        if self._network is None:
            classifier = self.mods["classifier"] if "classifier" in self.mods else None
            try:
                self._network = network_of(self.mods.model, classifier)
            except TypeError as err:  # a non-spiking SpArch baseline
                raise InferenceError(str(err)) from err
        return self._network

    def efficiency_of(self, encoding: Encoding, energy: EnergyModel | None = None) -> Efficiency:
        """Operation counts and energy of an :class:`Encoding` (see :mod:`sparse.efficiency`)."""
        return count_operations(encoding.spikes, self.network(), encoding.dt_ms, encoding.lengths,
                                float(encoding.duration_s.sum()), encoding.feats, energy)

    def efficiency_batch(self, wavs: Tensor, wav_lens: Tensor | None = None,
                         energy: EnergyModel | None = None) -> Efficiency:
        """:class:`~sparse.efficiency.Efficiency` of a batch of waveforms."""
        return self.efficiency_of(self.spikes_batch(wavs, wav_lens), energy)

    def efficiency_file(self, path: str | Path, energy: EnergyModel | None = None) -> Efficiency:
        """:class:`~sparse.efficiency.Efficiency` of one audio file (per second of audio)."""
        return self.efficiency_of(self._file_batch(path), energy)

    # ---- description ----------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What the model is: kind, interface, time step, input, populations, parameters."""
        hp = self.hparams
        model = self.mods.model
        out = {
            "kind": hp.kind, "interface": type(self).__name__,
            "encoder": type(model).__name__, "dt_ms": self.dt_ms,
            "input": getattr(hp, "input_description", ""),
            "populations": {name: int(size) for name, size in zip(
                self.population_names, self._population_sizes(), strict=True)},
            "parameters": int(sum(p.numel() for p in self.mods.parameters())),
            "labels": len(self.label_encoder) if self.label_encoder is not None else 0,
            "trained_on": getattr(hp, "trained_on", ""), "metric": getattr(hp, "metric", ""),
        }
        if getattr(hp, "clip_samples", None):
            out["clip_s"] = int(hp.clip_samples) / float(hp.sample_rate)
        if getattr(hp, "features", "") != "spikes":
            out["min_duration_s"] = self.min_duration_s
        if "model_folder" in vars(hp):
            out["folder"] = str(hp.model_folder)
        return out

    def _population_sizes(self) -> list[int]:
        if not self.spiking:
            return []
        return [p.size for p in self.mods.model.network().populations if p.spiking]

    def num_outputs(self) -> int:
        """Number of classes (or CTC labels) the model scores."""
        raise NotImplementedError
