"""Use a trained model: SpeechBrain-style inference interfaces over a model folder.

``SpikingASR`` (phone recognition, CTC), ``SpikingKWS`` (keyword spotting) and
``SpArchClassifier`` (SpArch networks) follow :mod:`speechbrain.inference`:
``from_hparams(source=<model folder>, run_opts={"device": ...})``, ``*_file(path)`` for one
audio file, ``*_batch(wavs, wav_lens)`` for padded waveforms ``(batch, samples)`` with
relative lengths. Each also returns the spikes of every population (``encode_*``) and counts
synaptic operations and energy (``efficiency_*``, see :mod:`sparse.efficiency`).

Why subclass :class:`speechbrain.inference.interfaces.Pretrained`: it gives the run options
(``device``, precision), ``.mods``/``.hparams`` with dot access, frozen modules in eval mode and
``torch.nn.Module`` behaviour (``.to()``), all as a SpeechBrain user expects. Only
``from_hparams`` is replaced: SpeechBrain's fetches ``source`` through its ``Pretrainer``,
which symlinks files into a cache and treats a path that does not exist as a HuggingFace
repository id to download, and loads weights with its own ``torch.load`` call. A sparse model
is a local folder, so loading here never reaches the network, reports a missing folder as
such, and reads every weight file with ``weights_only=True``.
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
    copy_model_folder,
    read_model_folder,
)

__all__ = ["Encoding", "Classification", "SpikingModel", "SpikingASR", "SpikingKWS",
           "SpArchClassifier", "load_model"]


@dataclass
class Encoding:
    """What a spiking encoder did with a batch.

    Attributes
    ----------
    feats : Tensor
        Model input ``(B, T, F)`` (normalised features, or the spike trains of SHD/SSC).
    outputs : Tensor
        Encoder output: ASR ``(B, T_ctc, F)`` phoneme features; classifiers ``(B, C)``
        class posteriors.
    spikes : dict of str to Tensor
        Spikes ``(B, T', N)`` (0/1) of every population, in network order.
    dt_ms : float
        Time step of the spike trains, in ms.
    lengths : Tensor
        ``(B,)`` relative lengths (padding after ``round(length * T')``).
    duration_s : Tensor
        ``(B,)`` seconds of audio (or of input) per example.
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
    """One classified file: best label, its posterior, and every class's posterior."""

    label: str
    score: float
    posteriors: dict[str, float]


class SpikingModel(Pretrained):
    """Base of the interfaces: loading, audio input, encoding and operation counts.

    Use a subclass, or :func:`load_model` (which picks the subclass from the folder).
    """

    KIND = ""
    MODULES_NEEDED = ["model"]
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
            if n is not None and len(self.label_encoder) != n:
                raise InferenceError(f"the label encoder has {len(self.label_encoder)} labels "
                                     f"but the model has {n} outputs")
            self.label_encoder.ignore_len()  # checked just above

    @classmethod
    def from_hparams(
        cls,
        source: str | Path,
        hparams_file: str = HPARAMS_FILE,
        overrides: dict[str, Any] | None = None,
        savedir: str | Path | None = None,
        run_opts: dict[str, Any] | None = None,
        freeze_params: bool = True,
    ) -> SpikingModel:
        """Load the model folder ``source`` (local only; see the module docstring).

        Parameters
        ----------
        source : str or Path
            A model folder (``<output_folder>/model`` of a training run, or a copy).
        hparams_file : str
            Its inference YAML.
        overrides : dict, optional
            Top-level keys of that YAML to change, e.g. ``{"backend": "reference"}``.
        savedir : str or Path, optional
            Copy the folder there first and load the copy.
        run_opts : dict, optional
            SpeechBrain run options, e.g. ``{"device": "cuda:0"}``.
        freeze_params : bool
            Freeze the parameters (inference).
        """
        from .folder import check_model_folder

        folder = check_model_folder(source, hparams_file)
        if savedir is not None:
            folder = copy_model_folder(folder, savedir)
        hparams = read_model_folder(folder, hparams_file, overrides)
        kind = hparams["kind"]
        if cls.KIND and kind != cls.KIND:
            raise InferenceError(f"{folder} holds a model of kind {kind!r}: load it with "
                                 f"sparse.inference.{KINDS[kind].interface}, not "
                                 f"{cls.__name__}")
        target = cls if cls.KIND else _INTERFACES[kind]
        labels = folder / LABELS_FILE
        if labels.is_file():
            hparams["label_encoder"] = target._read_labels(labels)
        return target(modules=hparams["modules"], hparams=hparams, run_opts=run_opts,
                      freeze_params=freeze_params)

    @staticmethod
    def _read_labels(path: Path):
        from speechbrain.dataio.encoder import CategoricalEncoder

        encoder = CategoricalEncoder()
        encoder.load(path)
        return encoder

    # ---- inputs ---------------------------------------------------------------------------

    def load_audio(self, path: str | Path, savedir=None) -> Tensor:
        """Mono waveform ``(samples,)`` of a local audio file, resampled as in training."""
        hp = self.hparams
        if getattr(hp, "features", "fbank") == "spikes":
            raise InferenceError(f"this model takes spike trains ({hp.nb_inputs} channels), "
                                 "not audio: use encode_features / classify_features")
        try:
            wave = load_waveform(path, hp.sample_rate, hp.resampler, hp.clip_samples)
        except AudioError as err:
            raise InferenceError(str(err)) from err
        return wave.to(self.device)

    def _batch(self, wavs: Tensor, wav_lens: Tensor | None) -> tuple[Tensor, Tensor]:
        """Waveforms ``(B, S)`` on the device and relative lengths ``(B,)``."""
        wavs = torch.as_tensor(wavs)
        if wavs.dim() == 1:
            wavs = wavs[None]
        if wavs.dim() != 2:
            raise InferenceError(f"expected mono waveforms (batch, samples), got shape "
                                 f"{tuple(wavs.shape)}; average the channels first")
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        return wavs.float().to(self.device), torch.as_tensor(wav_lens).float().to(self.device)

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
        """The model's time step in ms (one input frame per step)."""
        return float(self.mods.model.dt)

    @property
    def population_names(self) -> list[str]:
        """Names of the spiking populations, in network order (none for an ANN)."""
        return list(self.mods.model.population_names) if self.spiking else []

    def _outputs(self, out: Tensor) -> Tensor:
        return out

    @torch.no_grad()
    def encode_features(self, feats: Tensor, lengths: Tensor | None = None,
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

    @torch.no_grad()
    def encode_batch(self, wavs: Tensor, wav_lens: Tensor | None = None) -> Encoding:
        """Features, encoder output and every population's spikes for waveforms ``(B, S)``."""
        wavs, wav_lens = self._batch(wavs, wav_lens)
        duration = wav_lens.double().cpu() * wavs.shape[1] / float(self.hparams.sample_rate)
        return self.encode_features(self.features(wavs, wav_lens), wav_lens, duration)

    def encode_file(self, path: str | Path) -> Encoding:
        """:meth:`encode_batch` of one audio file (batch of 1)."""
        return self.encode_batch(self.load_audio(path)[None])

    def forward(self, wavs: Tensor, wav_lens: Tensor | None = None) -> Encoding:
        """SpeechBrain convention: the full model on a batch, here :meth:`encode_batch`."""
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
        return self.efficiency_of(self.encode_batch(wavs, wav_lens), energy)

    def efficiency_file(self, path: str | Path, energy: EnergyModel | None = None) -> Efficiency:
        """:class:`~sparse.efficiency.Efficiency` of one audio file (per second of audio)."""
        return self.efficiency_of(self.encode_file(path), energy)

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
        if "model_folder" in vars(hp):
            out["folder"] = str(hp.model_folder)
        return out

    def _population_sizes(self) -> list[int]:
        if not self.spiking:
            return []
        return [p.size for p in self.mods.model.network().populations if p.spiking]

    def num_outputs(self) -> int | None:
        """Number of classes (or CTC labels) the model scores; ``None`` if it has no labels."""
        return None


class SpikingASR(SpikingModel):
    """Phone recognition with a SPARSE :class:`~sparse.ASREncoder` and greedy CTC decoding.

    Examples
    --------
    ::

        asr = SpikingASR.from_hparams(source="results/<run>/model")
        asr.transcribe_file("speech.wav")                 # 'sil hh ah l ow sil'
        enc = asr.encode_file("speech.wav")               # enc.spikes["cortex1"]: (1, T', 512)
        print(asr.efficiency_file("speech.wav").format())
    """

    KIND = "asr"
    MODULES_NEEDED = ["model", "classifier"]

    @staticmethod
    def _read_labels(path: Path):
        from speechbrain.dataio.encoder import CTCTextEncoder

        encoder = CTCTextEncoder()
        encoder.load(path)
        return encoder

    def num_outputs(self) -> int:
        """CTC labels (phones + blank)."""
        return int(self.mods.classifier.w.out_features)

    @torch.no_grad()
    def transcribe_batch(self, wavs: Tensor, wav_lens: Tensor | None = None
                         ) -> tuple[list[str], list[list[str]]]:
        """Greedy CTC transcriptions: ``(["sil hh ah ...", ...], [["sil", "hh", ...], ...])``."""
        from speechbrain.decoders import ctc_greedy_decode

        enc = self.encode_batch(wavs, wav_lens)
        log_probs = torch.log_softmax(self.mods.classifier(enc.outputs), dim=-1)
        tokens = ctc_greedy_decode(log_probs, enc.lengths, blank_id=int(self.hparams.blank_index))
        phones = [list(self.label_encoder.decode_ndim(t)) for t in tokens]
        return [" ".join(p) for p in phones], phones

    def transcribe_file(self, path: str | Path) -> str:
        """Phones of one audio file, space-separated."""
        return self.transcribe_batch(self.load_audio(path)[None])[0][0]


class _Classifier(SpikingModel):
    """``classify_batch`` / ``classify_file`` over class posteriors ``(B, C)``."""

    def _labels(self, n: int) -> list[str]:
        if self.label_encoder is None:
            return [str(i) for i in range(n)]
        return [str(self.label_encoder.ind2lab[i]) for i in range(n)]

    def _decide(self, posteriors: Tensor) -> tuple[Tensor, Tensor, Tensor, list[str]]:
        score, index = posteriors.max(dim=-1)
        names = self._labels(posteriors.shape[-1])
        return posteriors, score, index, [names[int(i)] for i in index]

    def classify_batch(self, wavs: Tensor, wav_lens: Tensor | None = None
                       ) -> tuple[Tensor, Tensor, Tensor, list[str]]:
        """SpeechBrain's ``(posteriors (B, C), best score (B,), best index (B,), labels)``."""
        return self._decide(self.encode_batch(wavs, wav_lens).outputs)

    def classify_features(self, feats: Tensor, lengths: Tensor | None = None
                          ) -> tuple[Tensor, Tensor, Tensor, list[str]]:
        """:meth:`classify_batch` on model input ``(B, T, F)`` (e.g. SHD spike trains)."""
        return self._decide(self.encode_features(feats, lengths).outputs)

    def classify_file(self, path: str | Path) -> Classification:
        """Label, its posterior and every class's posterior for one audio file."""
        posteriors, score, _, labels = self.classify_batch(self.load_audio(path)[None])
        names = self._labels(posteriors.shape[-1])
        return Classification(labels[0], float(score[0]),
                              {n: float(p) for n, p in zip(names, posteriors[0], strict=True)})


class SpikingKWS(_Classifier):
    """Keyword spotting with a SPARSE :class:`~sparse.KWSEncoder` (one label per clip).

    Files are padded or cut to the training clip length (1 s), as in training.

    Examples
    --------
    ::

        kws = SpikingKWS.from_hparams(source="results/<run>/model")
        label, score, posteriors = kws.classify_file("yes.wav")
    """

    KIND = "kws"

    def num_outputs(self) -> int:
        """Classes of the readout."""
        return int(self.mods.model.readout.W.out_features)

    def _outputs(self, out: Tensor) -> Tensor:
        probs = out.squeeze(1)  # (B, C): time-averaged (or summed) softmax of the readout
        return probs / probs.sum(dim=-1, keepdim=True)


class SpArchClassifier(_Classifier):
    """A SpArch ``SNN`` (LIF, RLIF, adLIF, RadLIF) on audio (HD, Speech Commands) or spikes.

    Audio models compute 40 Kaldi log-mel bands at 16 kHz (10 ms frames) as their recipe did;
    SHD/SSC models take binned spike trains ``(B, T, 700)`` via ``classify_features``.
    Non-spiking baselines (MLP, GRU, ...) load and classify too, without spikes.
    """

    KIND = "sparch"

    def num_outputs(self) -> int:
        """Classes of the readout."""
        return int(self.mods.model.layer_sizes[-1])

    def _fbank(self, wavs: Tensor, wav_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Kaldi filterbank of each example's valid part, padded: ``(B, T, n_mels)``, ``(B,)``."""
        from ..data.hd import fbank_features

        steps = wavs.shape[1]
        feats = [fbank_features(w[: max(1, int(round(float(n) * steps)))].cpu(),
                                int(self.hparams.n_mels))
                 for w, n in zip(wavs, wav_lens, strict=True)]
        frames = max(f.shape[0] for f in feats)
        padded = torch.zeros(len(feats), frames, feats[0].shape[1])
        for i, f in enumerate(feats):
            padded[i, : f.shape[0]] = f
        lengths = torch.tensor([f.shape[0] / frames for f in feats])
        return padded.to(self.device), lengths.to(self.device)

    def features(self, wavs: Tensor, wav_lens: Tensor) -> Tensor:
        """Kaldi log-mel filterbank, as the SpArch recipe computed it, ``(B, T, n_mels)``."""
        return self._fbank(wavs, wav_lens)[0]

    @torch.no_grad()
    def encode_batch(self, wavs: Tensor, wav_lens: Tensor | None = None) -> Encoding:
        """As :meth:`SpikingModel.encode_batch`, with lengths counted in feature frames."""
        if getattr(self.hparams, "features", "") == "spikes":
            raise InferenceError(f"this model takes spike trains ({self.hparams.nb_inputs} "
                                 "channels), not audio: use encode_features / classify_features")
        wavs, wav_lens = self._batch(wavs, wav_lens)
        duration = wav_lens.double().cpu() * wavs.shape[1] / float(self.hparams.sample_rate)
        return self.encode_features(*self._fbank(wavs, wav_lens), duration)

    def run_encoder(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``(posteriors (B, C), spikes of every hidden layer)``, spikes before dropout (an
        ANN has none)."""
        if not self.spiking:
            return self.mods.model(feats, lengths=lengths)[0], []
        probs, _, spikes = self.mods.model(feats, lengths=lengths, return_spikes=True)
        return probs, spikes


_INTERFACES: dict[str, type[SpikingModel]] = {
    cls.KIND: cls for cls in (SpikingASR, SpikingKWS, SpArchClassifier)}


def load_model(source: str | Path, **kwargs) -> SpikingModel:
    """Load a model folder with the interface its kind needs (``SpikingASR``, ``SpikingKWS``...).

    Keyword arguments are those of :meth:`SpikingModel.from_hparams`.
    """
    return SpikingModel.from_hparams(source, **kwargs)
