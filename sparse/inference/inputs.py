"""What the interfaces take in: the device, audio files, waveform batches, their durations.

Checked before anything runs, each with one readable :class:`InferenceError`:

* **Device** (:func:`check_device`): a torch device that exists on this machine.
* **Back-end** (:func:`check_backend`): a neuron back-end that runs on that device.
* **Audio files** (:func:`local_audio`): local paths only; a URL is refused with its text intact
  (nothing is downloaded).
* **Waveforms** (:func:`waveform_batch`): ``(batch, samples)`` with relative lengths; keyword
  spotting clips padded with zeros or cut to the model's clip length, one example at a time,
  exactly as a file is.
* **Duration** (:func:`warn_if_short`): audio shorter than the model's minimum duration gives a
  :class:`ShortAudioWarning` that states the minimum.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from .folder import InferenceError

__all__ = ["ShortAudioWarning", "check_device", "check_backend", "local_audio", "waveform_batch",
           "warn_if_short"]


class ShortAudioWarning(UserWarning):
    """Audio shorter than the model's minimum duration: its result says little."""


def check_device(name: str) -> str:
    """``name`` if it is a torch device available here, else one clear :class:`InferenceError`.

    Examples
    --------
    >>> check_device("cpu")
    'cpu'
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise InferenceError(f"device {name!r} is not a torch device (e.g. 'cpu', 'cuda:0'): "
                             f"{str(err).splitlines()[0]}") from err
    if device.type == "cpu":
        return str(name)
    module = getattr(torch, device.type, None)
    if device.type == "mps":
        module = torch.backends.mps
    available = getattr(module, "is_available", None)
    if available is None or not available():
        raise InferenceError(f"device {name!r} is not available on this machine (no "
                             f"{device.type.upper()} device that PyTorch can use); use 'cpu'")
    count = getattr(module, "device_count", None)
    if device.index is not None and count is not None and device.index >= count():
        raise InferenceError(f"device {name!r} is not available on this machine: it has "
                             f"{count()} {device.type.upper()} device(s), numbered from 0")
    return str(name)


def check_backend(name: str, device: str) -> str:
    """``name`` if it names a neuron back-end that runs on ``device``, else an error."""
    from ..neurons.engine import resolve_backend

    try:
        resolve_backend(str(name), torch.device(device))
    except (ValueError, RuntimeError) as err:
        raise InferenceError(str(err)) from err
    return str(name)


def local_audio(path: str | Path) -> Path:
    """``path`` as a local ``Path``; a URL is refused with its text intact."""
    text = str(path)
    if "://" in text:
        raise InferenceError(f"{text} is a URL: sparse reads local audio files only (nothing is "
                             "downloaded); download it and give its path")
    return Path(path).expanduser()


def waveform_batch(wavs: Tensor, wav_lens: Tensor | None, clip_samples: int | None = None,
                   device: str | torch.device = "cpu") -> tuple[Tensor, Tensor, Tensor]:
    """Waveforms ``(B, S)`` and relative lengths ``(B,)`` as a model takes them.

    Parameters
    ----------
    wavs : Tensor
        ``(B, S)`` or one waveform ``(S,)``, padded after each example's end.
    wav_lens : Tensor, optional
        ``(B,)`` relative lengths in ``(0, 1]`` (default: all 1).
    clip_samples : int, optional
        The model's clip length in samples (keyword spotting): each example's valid part is
        padded with zeros or cut to it, and every length becomes 1, as for a file.
    device : str or torch.device
        Where the returned tensors live.

    Returns
    -------
    wavs, wav_lens : Tensor
        ``(B, S')`` float32 and ``(B,)``.
    samples : Tensor
        ``(B,)`` valid samples of each example before any padding or cutting.
    """
    wavs = torch.as_tensor(wavs)
    if wavs.dim() == 1:
        wavs = wavs[None]
    if wavs.dim() != 2:
        raise InferenceError(f"expected mono waveforms (batch, samples), got shape "
                             f"{tuple(wavs.shape)}; average the channels first")
    wavs = wavs.float()
    if wav_lens is None:
        wav_lens = torch.ones(wavs.shape[0])
    wav_lens = torch.as_tensor(wav_lens).float().cpu()
    if wav_lens.shape != (wavs.shape[0],):
        raise InferenceError(f"wav_lens must hold one relative length per waveform, shape "
                             f"({wavs.shape[0]},); got {tuple(wav_lens.shape)}")
    samples = torch.round(wav_lens * wavs.shape[1]).long().clamp(0, wavs.shape[1])
    if clip_samples is not None:
        clips = torch.zeros(wavs.shape[0], int(clip_samples), dtype=wavs.dtype,
                            device=wavs.device)
        for i, n in enumerate(samples.tolist()):
            n = min(n, int(clip_samples))
            clips[i, :n] = wavs[i, :n]
        wavs, wav_lens = clips, torch.ones(wavs.shape[0])
    return wavs.to(device), wav_lens.to(device), samples


def warn_if_short(seconds: Sequence[float], minimum_s: float, why: str,
                  names: Sequence[str] | None = None) -> None:
    """Warn (:class:`ShortAudioWarning`) for each duration shorter than ``minimum_s``."""
    for i, duration in enumerate(seconds):
        if float(duration) < minimum_s:
            name = names[i] if names is not None else f"example {i} of the batch"
            warnings.warn(f"{name}: {float(duration):.3f} s of audio is shorter than this "
                          f"model's minimum of {minimum_s:.3f} s ({why}); its result says "
                          "little", ShortAudioWarning, stacklevel=3)
