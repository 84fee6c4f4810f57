"""Audio input of the inference interfaces: read, mix to mono, resample as the recipes did.

Rules (each the one the training recipes applied to their data):

* **Channels**: a file with several channels is averaged to mono (``mean`` over channels,
  what every recipe's reader does, and SpeechBrain's ``AudioNormalizer(mix="avg-to-mono")``).
  Tensors given to ``*_batch`` methods must already be mono ``(batch, samples)``.
* **Rate**: any rate is resampled to the model's ``sample_rate`` with the recipe's resampler:
  ``"polyphase"`` (``scipy.signal.resample_poly``, the SPARSE recipes) or ``"sinc"``
  (``torchaudio.functional.resample``, the SpArch audio recipes HD and Speech Commands 35).
* **Length**: models trained on fixed-length clips (keyword spotting: 1 s) get each file
  padded with zeros or cut to ``clip_samples``, as in training.
"""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import torch

__all__ = ["RESAMPLERS", "AudioError", "read_mono", "resample", "fit_length", "load_waveform",
           "audio_extensions"]

#: Resampling methods by name (see the module docstring).
RESAMPLERS = ("polyphase", "sinc")


class AudioError(ValueError):
    """An audio file that cannot be used (missing, unreadable, empty); one-line message."""


def audio_extensions() -> set[str]:
    """File extensions soundfile can read, lower case with the dot (``{".wav", ".flac", ...}``)."""
    import soundfile as sf

    return {"." + fmt.lower() for fmt in sf.available_formats()} | {".aif"}


def read_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples ``(samples,)`` float32 (channels averaged) and the file's rate in Hz.

    Raises
    ------
    AudioError
        If the file is missing, unreadable as audio, or holds no samples.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        wave, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several classes (LibsndfileError, RuntimeError)
        reason = " ".join(str(err).split()) or type(err).__name__
        raise AudioError(f"cannot read audio file {path}: {reason}") from err
    if wave.shape[0] == 0:
        raise AudioError(f"audio file {path} holds no samples")
    return wave.mean(axis=1), int(rate)


def resample(wave: np.ndarray, rate: int, target: int, method: str = "polyphase") -> np.ndarray:
    """``wave`` ``(samples,)`` at ``rate`` Hz resampled to ``target`` Hz (float32).

    Examples
    --------
    >>> resample(np.zeros(8000, dtype=np.float32), 8000, 16000).shape
    (16000,)
    """
    if method not in RESAMPLERS:
        raise ValueError(f"resampler must be one of {RESAMPLERS}, got {method!r}")
    if int(rate) == int(target):
        return wave.astype(np.float32, copy=False)
    if method == "polyphase":
        from scipy.signal import resample_poly

        g = gcd(int(rate), int(target))
        return resample_poly(wave, int(target) // g, int(rate) // g).astype(np.float32)
    from torchaudio.functional import resample as sinc_resample

    return sinc_resample(torch.from_numpy(np.ascontiguousarray(wave)), int(rate),
                         int(target)).numpy()


def fit_length(wave: np.ndarray, num_samples: int | None) -> np.ndarray:
    """Pad with zeros or cut ``wave`` to ``num_samples`` (unchanged if ``None``)."""
    if num_samples is None:
        return wave
    out = np.zeros(int(num_samples), dtype=np.float32)
    out[: min(len(wave), int(num_samples))] = wave[: int(num_samples)]
    return out


def load_waveform(
    path: str | Path, sample_rate: int, method: str = "polyphase", num_samples: int | None = None
) -> torch.Tensor:
    """Mono waveform ``(samples,)`` of an audio file at ``sample_rate`` Hz, as the recipes read it.

    Parameters
    ----------
    path : str or Path
        Any file soundfile reads (wav, flac, ogg, ...), any rate, any number of channels.
    sample_rate : int
        The model's rate in Hz.
    method : str
        ``"polyphase"`` or ``"sinc"`` resampling.
    num_samples : int, optional
        Pad or cut to this length (keyword-spotting clips).
    """
    wave, rate = read_mono(path)
    return torch.from_numpy(fit_length(resample(wave, rate, sample_rate, method), num_samples))
