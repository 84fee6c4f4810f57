"""Noise made on the fly: augmentation noise and the analysis's noise controls.

* :func:`white_noise_like`, :func:`pink_noise_like` and :func:`generated_noise_like` make unit
  noise for SpeechBrain's ``AddNoise(noise_funct=...)`` (which rescales it to the drawn SNR), so
  that augmentation needs no noise download.
* :func:`gaussian_noise_like` and :func:`spectrum_matched_noise` make the paired control of an
  utterance for the analysis: white noise at its RMS, or noise with its magnitude spectrum.
"""

from __future__ import annotations

import torch

__all__ = ["white_noise_like", "pink_noise_like", "generated_noise_like", "gaussian_noise_like",
           "spectrum_matched_noise"]


def white_noise_like(waveforms: torch.Tensor) -> torch.Tensor:
    """Gaussian white noise with the shape of ``waveforms``.

    Parameters
    ----------
    waveforms : torch.Tensor
        Shape (batch, samples) or (batch, samples, channels).

    Returns
    -------
    torch.Tensor
        Same shape, unit variance (``AddNoise`` rescales it to the drawn SNR).

    Examples
    --------
    >>> white_noise_like(torch.zeros(2, 100)).shape
    torch.Size([2, 100])
    """
    return torch.randn_like(waveforms)


def pink_noise_like(waveforms: torch.Tensor) -> torch.Tensor:
    """Pink (1/f power) noise with the shape of ``waveforms``, made by spectral shaping.

    White Gaussian noise is transformed with an FFT along time, each bin scaled by
    ``1/sqrt(f)`` (DC removed) and transformed back, then normalised to unit variance per row.

    Parameters
    ----------
    waveforms : torch.Tensor
        Shape (batch, samples) or (batch, samples, channels); time is dimension 1.

    Returns
    -------
    torch.Tensor
        Same shape and dtype, unit variance per row.

    Examples
    --------
    >>> pink_noise_like(torch.zeros(3, 400, 2)).shape
    torch.Size([3, 400, 2])
    """
    n = waveforms.shape[1]
    white = torch.randn(waveforms.shape, device=waveforms.device, dtype=torch.float32)
    spectrum = torch.fft.rfft(white, dim=1)
    freqs = torch.arange(spectrum.shape[1], device=waveforms.device, dtype=torch.float32)
    scale = torch.where(freqs > 0, freqs.clamp(min=1.0).rsqrt(), torch.zeros_like(freqs))
    shape = [1] * spectrum.dim()
    shape[1] = -1
    pink = torch.fft.irfft(spectrum * scale.view(shape), n=n, dim=1)
    pink = pink / pink.std(dim=1, keepdim=True).clamp(min=1e-8)
    return pink.to(waveforms.dtype)


def generated_noise_like(waveforms: torch.Tensor, pink_probability: float = 0.5) -> torch.Tensor:
    """Per-row mix of white and pink noise, for ``AddNoise(noise_funct=...)``.

    Parameters
    ----------
    waveforms : torch.Tensor
        Shape (batch, samples[, channels]).
    pink_probability : float
        Probability in [0, 1] that a row gets pink rather than white noise.

    Returns
    -------
    torch.Tensor
        Same shape as ``waveforms``.

    Examples
    --------
    >>> generated_noise_like(torch.zeros(4, 160), pink_probability=1.0).shape
    torch.Size([4, 160])
    """
    if not 0.0 <= pink_probability <= 1.0:
        raise ValueError(f"pink_probability must be in [0, 1], got {pink_probability}")
    choose_pink = torch.rand(waveforms.shape[0], device=waveforms.device) < pink_probability
    choose_pink = choose_pink.view([-1] + [1] * (waveforms.dim() - 1))
    return torch.where(choose_pink, pink_noise_like(waveforms), white_noise_like(waveforms))


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
