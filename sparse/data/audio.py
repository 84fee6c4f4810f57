"""Audio of the recipes: one reader for every corpus, and the check of a manifest's files.

Reading (:func:`load_waveform`; the recipes, their analyses and the inference interfaces all
read audio with it, so that a model hears at inference what it heard in training):

* **Channels**: a file with several channels is averaged to mono (``mean`` over channels,
  as SpeechBrain's ``AudioNormalizer(mix="avg-to-mono")``).
* **Range**: samples ``[start, stop)`` in the file's own rate (``stop < 0``: to the end),
  e.g. a 1 s ``_silence_`` window of a long noise recording.
* **Rate**: resampled to the model's rate with the recipe's resampler, by name
  (:data:`RESAMPLERS`): ``"polyphase"`` (``scipy.signal.resample_poly``, the SPARSE recipes:
  keyword spotting, TIMIT's audio check) or ``"sinc"`` (``torchaudio.functional.resample``,
  the SpArch audio recipes HD and Speech Commands). The two differ in their last digits, and
  a model folder records which one its training used.
* **Length**: clips padded with zeros or cut to ``num_samples`` (keyword spotting: 1 s).

Checking (:func:`check_audio_files`): a manifest's audio decoded up front (every file, every
sample; files already checked are cached by path, size and modification time), every bad
file named in one :class:`~sparse.errors.RecipeError`; :func:`audio_file_problem` says why
one file cannot be used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
import torch
from tqdm import tqdm

from ..errors import RecipeError, UserError

__all__ = ["RESAMPLERS", "AudioError", "audio_extensions", "read_mono", "resample",
           "fit_length", "load_waveform", "AUDIO_CHECK_VERSION", "audio_file_problem",
           "check_audio_files"]

#: Resampling methods by name (see the module docstring).
RESAMPLERS = ("polyphase", "sinc")


class AudioError(UserError):
    """An audio file that cannot be used (missing, unreadable, empty); one-line message."""


def audio_extensions() -> set[str]:
    """File extensions soundfile can read, lower case with the dot (``{".wav", ".flac", ...}``)."""
    return {"." + fmt.lower() for fmt in soundfile.available_formats()} | {".aif"}


def read_mono(path: str | Path, start: int = 0, stop: int = -1) -> tuple[np.ndarray, int]:
    """Samples ``[start, stop)`` ``(samples,)`` float32 (channels averaged) and the file's rate.

    Parameters
    ----------
    path : str or Path
        Any file soundfile reads (wav, flac, ogg, ...).
    start, stop : int
        Sample range in the file's own rate; ``stop < 0`` = to the end.

    Raises
    ------
    AudioError
        If the file is missing, unreadable as audio, or the range holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        wave, rate = soundfile.read(str(path), start=int(start),
                                    stop=None if int(stop) < 0 else int(stop),
                                    dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several classes (LibsndfileError, RuntimeError)
        reason = " ".join(str(err).split()) or type(err).__name__
        raise AudioError(f"cannot read audio file {path}: {reason}") from err
    if wave.shape[0] == 0:
        where = "" if (int(start), int(stop) < 0) == (0, True) else f" in [{start}, {stop})"
        raise AudioError(f"audio file {path} holds no samples{where}")
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
    """Pad with zeros or cut ``wave`` to ``num_samples`` (unchanged if ``None``).

    Examples
    --------
    >>> fit_length(np.ones(3, dtype=np.float32), 5).tolist()
    [1.0, 1.0, 1.0, 0.0, 0.0]
    """
    if num_samples is None:
        return wave
    out = np.zeros(int(num_samples), dtype=np.float32)
    out[: min(len(wave), int(num_samples))] = wave[: int(num_samples)]
    return out


def load_waveform(
    path: str | Path,
    sample_rate: int,
    method: str = "polyphase",
    num_samples: int | None = None,
    start: int = 0,
    stop: int = -1,
) -> torch.Tensor:
    """Mono waveform ``(samples,)`` float32 of an audio file at ``sample_rate`` Hz.

    Parameters
    ----------
    path : str or Path
        Any file soundfile reads (wav, flac, ogg, ...), any rate, any number of channels.
    sample_rate : int
        The model's rate in Hz.
    method : str
        ``"polyphase"`` or ``"sinc"`` resampling (:data:`RESAMPLERS`), used only when the
        file has another rate.
    num_samples : int, optional
        Pad with zeros or cut to this length (keyword-spotting clips).
    start, stop : int
        Sample range in the file's own rate; ``stop < 0`` = to the end.

    Raises
    ------
    AudioError
        As :func:`read_mono`.
    """
    wave, rate = read_mono(path, start, stop)
    return torch.from_numpy(fit_length(resample(wave, rate, sample_rate, method), num_samples))


#: Version of the records :func:`check_audio_files` caches (bump when the checks change).
AUDIO_CHECK_VERSION = 1


def audio_file_problem(path: str | Path, sample_rate: int | None = None,
                       decode: bool = True) -> tuple[str | None, dict | None]:
    """Why an audio file cannot be used, by reading its header and (optionally) every sample.

    Parameters
    ----------
    path : str or Path
        The audio file.
    sample_rate : int, optional
        Required sampling rate in Hz.
    decode : bool
        Decode the whole file, not only its header: a truncated or damaged FLAC has a
        valid header and fails only when its last frames are read.

    Returns
    -------
    problem : str or None
        ``None`` if the file is usable, else a short reason ("not found", "is empty", ...).
    record : dict or None
        For a usable file, what :func:`check_audio_files` caches: ``size`` (bytes),
        ``mtime_ns``, ``rate`` (Hz), ``frames``, ``decoded``.
    """
    path = Path(path)
    if not path.is_file():
        return "not found", None
    stat = path.stat()
    try:
        info = soundfile.info(str(path))
    except Exception as err:  # libsndfile raises several error classes
        return f"is corrupt or unreadable ({err})", None
    if info.frames <= 0:
        return "is empty", None
    if sample_rate is not None and info.samplerate != sample_rate:
        return f"has {info.samplerate} Hz, expected {sample_rate} Hz", None
    if decode:
        frames = 0
        try:
            for block in soundfile.blocks(str(path), blocksize=1 << 16, dtype="float32"):
                if not np.isfinite(block).all():
                    return "holds non-finite samples", None
                frames += len(block)
        except Exception as err:
            return f"is corrupt or unreadable ({' '.join(str(err).split())})", None
        if frames != info.frames:
            return f"is truncated (decoded {frames} of {info.frames} frames)", None
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "rate": info.samplerate,
              "frames": info.frames, "decoded": bool(decode)}
    return None, record


def _load_audio_cache(cache_file: Path | None) -> dict[str, dict]:
    """Records of files that passed :func:`check_audio_files` before ({} if none or stale)."""
    if cache_file is None or not cache_file.is_file():
        return {}
    try:
        content = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(content, dict) or content.get("version") != AUDIO_CHECK_VERSION:
        return {}
    files = content.get("files")
    return files if isinstance(files, dict) else {}


def _save_audio_cache(cache_file: Path, records: dict[str, dict]) -> None:
    """Write the cache atomically (a kill never leaves half a file)."""
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_name(cache_file.name + ".tmp")
    tmp.write_text(json.dumps({"version": AUDIO_CHECK_VERSION, "files": records}, indent=1),
                   encoding="utf-8")
    tmp.replace(cache_file)


def _still_valid(record: dict | None, path: Path, sample_rate: int | None, decode: bool) -> bool:
    """Whether a cached record still describes ``path`` (same size and time, checks as strict)."""
    if not record or (decode and not record.get("decoded")):
        return False
    if sample_rate is not None and record.get("rate") != sample_rate:
        return False
    try:
        stat = path.stat()
    except OSError:
        return False
    return record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns


def check_audio_files(
    wav_paths: Mapping[str, str],
    *,
    sample_rate: int | None = None,
    where: str = "manifest",
    decode: bool = True,
    cache_file: str | Path | None = None,
) -> None:
    """Check that every audio file exists, is at the right rate and decodes to its last sample.

    Every file is checked (see :func:`audio_file_problem`) before any error is raised, so the
    error names all bad files at once. Files that passed are recorded in ``cache_file``
    (keyed by absolute path, with size and modification time), so a second run only reads
    new or changed files.

    Parameters
    ----------
    wav_paths : mapping of str to str
        Utterance id to resolved audio path.
    sample_rate : int, optional
        Required sampling rate in Hz.
    where : str
        Name of the manifest, used in messages.
    decode : bool
        Decode every sample (default), or read headers only.
    cache_file : str or Path, optional
        JSON file of files already checked, e.g. ``<save_folder>/audio_check.json``.

    Raises
    ------
    RecipeError
        One line naming the file if one is bad; otherwise a first line with the count and one
        line per bad file (utterance id, path, reason).
    """
    cache_path = Path(cache_file) if cache_file is not None else None
    cache = _load_audio_cache(cache_path)
    todo = []
    for utt_id, wav in wav_paths.items():
        key = os.path.abspath(wav)
        if not _still_valid(cache.get(key), Path(key), sample_rate, decode):
            todo.append((utt_id, wav, key))
    bad = []
    show = decode and len(todo) > 100
    for utt_id, wav, key in tqdm(todo, desc=f"checking audio of {where}", disable=not show):
        problem, record = audio_file_problem(key, sample_rate, decode)
        if problem is None:
            cache[key] = record
        else:
            cache.pop(key, None)
            bad.append((utt_id, wav, problem))
    if cache_path is not None and todo:
        _save_audio_cache(cache_path, cache)
    if len(bad) == 1:
        utt_id, wav, problem = bad[0]
        reason, _, detail = problem.partition(" (")
        detail = f" ({detail}" if detail else ""
        raise RecipeError(f"{where}: audio file of '{utt_id}' {reason}: {wav}{detail}")
    if bad:
        lines = [f"  '{utt_id}' {problem}: {wav}" for utt_id, wav, problem in bad]
        raise RecipeError(
            f"{where}: {len(bad)} of {len(wav_paths)} audio files cannot be used "
            "(fix or remove them, then run again):\n" + "\n".join(lines)
        )
