"""Use a trained model: SpeechBrain inference interfaces over a model folder.

``SpikingASR`` (phone recognition, CTC), ``SpikingKWS`` (keyword spotting) and
``SpArchClassifier`` (SpArch networks) keep SpeechBrain 1.1's signatures wherever they use one
of its names, so code written for :class:`speechbrain.inference.ASR.EncoderASR` or
:class:`speechbrain.inference.classifiers.EncoderClassifier` runs unchanged:

* ``from_hparams(source, hparams_file, overrides, overrides_must_match, savedir,
  download_only, local_strategy, fetch_config, run_opts, freeze_params)``; ``source`` is a
  local model folder (see below), so ``fetch_config`` and ``huggingface_cache_dir`` are
  accepted and have nothing to do.
* ``classify_batch(wavs, wav_lens)`` / ``classify_file(path)``: ``(out_prob, score, index,
  text_lab)``: log-posteriors ``(B, C)``, the best log-posterior ``(B,)``, its index ``(B,)``
  and the labels (a list of ``B`` strings); ``forward`` is ``classify_batch``.
* ``transcribe_batch(wavs, wav_lens)``: ``(predicted_words, predicted_tokens)``, the phones as
  one space-separated string and the token ids per utterance; ``transcribe_file(path)``: the
  string; ``forward`` is ``encode_batch``.
* ``encode_batch(wavs, wav_lens)`` / ``encode_file(path)``: the encoder's output tensor (ASR:
  phoneme features ``(B, T_ctc, F)``; classifiers: class posteriors ``(B, C)``).
* ``load_audio(path, savedir=None)``: a local file's mono waveform at the model's rate
  (``savedir`` is accepted; a local file is read where it is).

Beside them, under names SpeechBrain does not use: ``label_file`` / ``label_batch`` (a
:class:`Classification`: label, probability, every class's probability), ``spikes_file`` /
``spikes_batch`` / ``spikes_features`` (an :class:`Encoding`: features, output and every
population's spikes with ``dt``) and ``efficiency_file`` / ``efficiency_batch`` (synaptic
operations and energy, :mod:`sparse.efficiency`).

Inputs (:mod:`sparse.inference.inputs`): any sample rate is resampled as in training, several
channels are averaged; keyword-spotting clips are padded with zeros or cut to the training clip
length (``clip_samples``, 1 s for Speech Commands) in ``*_batch`` as in ``*_file``; audio
shorter than the model's ``min_duration_s`` gives a :class:`ShortAudioWarning`.

Why subclass :class:`speechbrain.inference.interfaces.Pretrained`: it gives the run options
(``device``, precision), ``.mods``/``.hparams`` with dot access, frozen modules in eval mode and
``torch.nn.Module`` behaviour (``.to()``), all as a SpeechBrain user expects. Only
``from_hparams`` is replaced: SpeechBrain's fetches ``source`` through its ``Pretrainer``,
which treats a path that does not exist as a HuggingFace repository to download, and loads
weights with its own ``torch.load`` call. A sparse model is a local folder, so loading here
never reaches the network, reports a missing folder as such, validates the folder (every file
its kind needs, one label per output) and reads every weight file with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from .base import Classification, Encoding, SpikingModel
from .folder import InferenceError

__all__ = ["Encoding", "Classification", "SpikingModel", "SpikingASR", "SpikingKWS",
           "SpArchClassifier", "INTERFACES", "load_model"]


class SpikingASR(SpikingModel):
    """Phone recognition with a SPARSE :class:`~sparse.ASREncoder` and greedy CTC decoding.

    Examples
    --------
    ::

        asr = SpikingASR.from_hparams(source="results/<run>/model")
        asr.transcribe_file("speech.wav")                 # 'sil hh ah l ow sil'
        words, tokens = asr.transcribe_batch(wavs, wav_lens)
        enc = asr.spikes_file("speech.wav")               # enc.spikes["cortex1"]: (1, T', 512)
        print(asr.efficiency_file("speech.wav").format())
    """

    KIND = "asr"

    @staticmethod
    def _label_encoder():
        from speechbrain.dataio.encoder import CTCTextEncoder

        return CTCTextEncoder()

    def num_outputs(self) -> int:
        """CTC labels (phones + blank)."""
        return int(self.mods.classifier.w.out_features)

    @property
    def min_duration_s(self) -> float:
        """One CTC output frame: ``k`` spike steps of ``dt`` (40 ms at 25 Hz)."""
        return self.mods.model.pool_size * self.dt_ms / 1000.0

    def _min_duration_reason(self) -> str:
        return (f"one output frame of {self.mods.model.pool_size} steps of "
                f"{self.dt_ms:g} ms")

    def run_encoder(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, list[Tensor]]:
        """As :meth:`SpikingModel.run_encoder`; input too short for one output frame refused."""
        if self.mods.model.output_length(feats.shape[1]) < 1:
            raise InferenceError(
                f"{feats.shape[1]} feature frames of {self.dt_ms:g} ms are too "
                f"short for this model: it needs at least {self.min_duration_s:.3f} s of audio "
                f"({self._min_duration_reason()})")
        return super().run_encoder(feats, lengths)

    @torch.no_grad()
    def _decode(self, enc: Encoding) -> tuple[list[str], list[list[int]]]:
        from speechbrain.decoders import ctc_greedy_decode

        log_probs = torch.log_softmax(self.mods.classifier(enc.outputs), dim=-1)
        tokens = ctc_greedy_decode(log_probs, enc.lengths, blank_id=int(self.hparams.blank_index))
        return [" ".join(self.label_encoder.decode_ndim(t)) for t in tokens], tokens

    def transcribe_batch(self, wavs: Tensor, wav_lens: Tensor | None = None
                         ) -> tuple[list[str], list[list[int]]]:
        """SpeechBrain's ``(predicted_words, predicted_tokens)`` by greedy CTC decoding.

        ``predicted_words``: one string of space-separated phones per utterance;
        ``predicted_tokens``: their token ids (blanks and repeats removed).
        """
        return self._decode(self.spikes_batch(wavs, wav_lens))

    def transcribe_file(self, path: str | Path, **kwargs) -> str:
        """Phones of one audio file, space-separated (``kwargs`` go to :meth:`load_audio`)."""
        return self._decode(self._file_batch(path, **kwargs))[0][0]


class _Classifier(SpikingModel):
    """SpeechBrain's ``classify_*`` and the friendlier ``label_*`` over class posteriors."""

    def _label_names(self) -> list[str]:
        n = self.num_outputs()
        if self.label_encoder is None:  # an interface over a training run's live modules
            return [str(i) for i in range(n)]
        return [str(self.label_encoder.ind2lab[i]) for i in range(n)]

    def _outputs(self, out: Tensor) -> Tensor:
        probs = out.reshape(out.shape[0], -1)  # (B, C); the KWS readout gives (B, 1, C)
        return probs / probs.sum(dim=-1, keepdim=True)  # "sum" readouts add over time

    def _decide(self, posteriors: Tensor) -> tuple[Tensor, Tensor, Tensor, list[str]]:
        out_prob = torch.log(posteriors.clamp_min(torch.finfo(posteriors.dtype).tiny))
        score, index = out_prob.max(dim=-1)
        names = self._label_names()
        return out_prob, score, index, [names[int(i)] for i in index]

    def _label(self, posteriors: Tensor) -> list[Classification]:
        names = self._label_names()
        out = []
        for row in posteriors.cpu():
            best = int(row.argmax())
            out.append(Classification(names[best], float(row[best]),
                                      {n: float(p) for n, p in zip(names, row, strict=True)}))
        return out

    def classify_batch(self, wavs: Tensor, wav_lens: Tensor | None = None
                       ) -> tuple[Tensor, Tensor, Tensor, list[str]]:
        """SpeechBrain's ``(out_prob, score, index, text_lab)`` for waveforms ``(B, S)``.

        ``out_prob``: log-posteriors ``(B, C)``; ``score``: the best log-posterior ``(B,)``;
        ``index``: its class ``(B,)``; ``text_lab``: the ``B`` labels.
        """
        return self._decide(self.spikes_batch(wavs, wav_lens).outputs)

    def classify_file(self, path: str | Path, **kwargs) -> tuple[Tensor, Tensor, Tensor,
                                                                 list[str]]:
        """:meth:`classify_batch` of one file (a batch of 1; ``kwargs`` go to ``load_audio``)."""
        return self._decide(self._file_batch(path, **kwargs).outputs)

    def classify_features(self, feats: Tensor, lengths: Tensor | None = None
                          ) -> tuple[Tensor, Tensor, Tensor, list[str]]:
        """:meth:`classify_batch` on model input ``(B, T, F)`` (e.g. SHD spike trains)."""
        return self._decide(self.spikes_features(feats, lengths).outputs)

    def forward(self, wavs: Tensor, wav_lens: Tensor | None = None):
        """SpeechBrain's ``EncoderClassifier.forward``: :meth:`classify_batch`."""
        return self.classify_batch(wavs, wav_lens)

    def label_batch(self, wavs: Tensor, wav_lens: Tensor | None = None) -> list[Classification]:
        """One :class:`Classification` (label, probability, every class's) per waveform."""
        return self._label(self.spikes_batch(wavs, wav_lens).outputs)

    def label_file(self, path: str | Path) -> Classification:
        """Label, its probability and every class's probability for one audio file."""
        return self._label(self._file_batch(path).outputs)[0]

    def label_features(self, feats: Tensor, lengths: Tensor | None = None
                       ) -> list[Classification]:
        """:meth:`label_batch` on model input ``(B, T, F)`` (e.g. SHD spike trains)."""
        return self._label(self.spikes_features(feats, lengths).outputs)


class SpikingKWS(_Classifier):
    """Keyword spotting with a SPARSE :class:`~sparse.KWSEncoder` (one label per clip).

    Every clip, from a file or in a batch, is padded with zeros or cut to the training clip
    length (``clip_samples`` of the folder's ``hyperparams.yaml``: 1 s for Speech Commands),
    as in training; a longer recording is judged on its first second.

    Examples
    --------
    ::

        kws = SpikingKWS.from_hparams(source="results/<run>/model")
        out_prob, score, index, text_lab = kws.classify_file("yes.wav")   # text_lab: ['yes']
        label, probability, posteriors = kws.label_file("yes.wav")
    """

    KIND = "kws"

    def num_outputs(self) -> int:
        """Classes of the readout."""
        return int(self.mods.model.readout.W.out_features)


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
    def spikes_batch(self, wavs: Tensor, wav_lens: Tensor | None = None,
                     names: list[str] | None = None) -> Encoding:
        """As :meth:`SpikingModel.spikes_batch`, with lengths counted in feature frames."""
        if getattr(self.hparams, "features", "") == "spikes":
            raise InferenceError(f"this model takes spike trains ({self.hparams.nb_inputs} "
                                 "channels), not audio: use spikes_features / classify_features")
        wavs, wav_lens, duration = self._waveforms(wavs, wav_lens, names)
        return self.spikes_features(*self._fbank(wavs, wav_lens), duration)

    def run_encoder(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``(posteriors (B, C), spikes of every hidden layer)``, spikes before dropout (an
        ANN has none)."""
        if not self.spiking:
            return self.mods.model(feats, lengths=lengths)[0], []
        probs, _, spikes = self.mods.model(feats, lengths=lengths, return_spikes=True)
        return probs, spikes


#: The interface of each model kind.
INTERFACES: dict[str, type[SpikingModel]] = {
    cls.KIND: cls for cls in (SpikingASR, SpikingKWS, SpArchClassifier)}


def load_model(source: str | Path, **kwargs) -> SpikingModel:
    """Load a model folder with the interface its kind needs (``SpikingASR``, ``SpikingKWS``...).

    Keyword arguments are those of :meth:`SpikingModel.from_hparams`.
    """
    return SpikingModel.from_hparams(source, **kwargs)
