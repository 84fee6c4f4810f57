"""Audio checked before training: every file decoded to its last sample, results cached.

:func:`check_audio_files` decodes a manifest's audio up front (every file, every sample;
files already checked are cached by path, size and modification time) and names every bad
file in one :class:`~sparse.errors.RecipeError`; :func:`audio_file_problem` says why
one file cannot be used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from ..errors import RecipeError

__all__ = ["AUDIO_CHECK_VERSION", "audio_file_problem", "check_audio_files"]

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
