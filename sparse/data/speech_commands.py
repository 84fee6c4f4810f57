"""Data preparation for Google Speech Commands (v0.01 and v0.02) keyword spotting.

Used by the SPARSE keyword-spotting recipe and the SpArch Speech Commands recipe
(``recipes/SpeechCommands``); ``recipes/SpeechCommands/speech_commands_prepare.py``
re-exports it where SpeechBrain recipes keep their preparer.

Expected layout (the official archives unpacked as they come)::

    <data_folder>/
        <word>/<speaker>_nohash_<n>.wav     one folder per word (.wav or .flac)
        validation_list.txt                 relative paths of the validation clips
        testing_list.txt                    relative paths of the test clips
        _background_noise_/*.wav            long noise recordings (for ``_silence_``)

Splits come **only** from the two official lists: a clip named in
``validation_list.txt`` is validation, one named in ``testing_list.txt`` is test,
every other clip of a word folder is training. Google built the lists by hashing
the speaker id, so a speaker never appears in two splits.

Task set-ups (``task``):

* ``"kws12"``: 10 keywords (yes, no, up, down, left, right, on, off, stop, go)
  plus ``_unknown_`` and ``_silence_`` (the 12-class benchmark).
* ``"all"``: every word folder is a class (35 words in v0.02, 30 in v0.01), no
  ``_unknown_``/``_silence_`` unless the fractions are set.
* ``"digits"``: the words zero ... nine (10 classes), no ``_unknown_``/``_silence_``
  (the task of the bundled FSDD sample).
* ``"custom"``: the words given in ``keywords``.

``_unknown_`` and ``_silence_`` follow the protocol of TensorFlow's
``speech_commands/input_data.py``: per split, their counts are
``ceil(unknown_fraction * K)`` and ``ceil(silence_fraction * K)`` with K the number
of keyword clips of that split (10 % each by default, so both are about as large
as one keyword class). Unknown clips are drawn without replacement, uniformly from
all clips of that split whose word is not a keyword, with
``numpy.random.default_rng(seed)`` over the sorted pool (TensorFlow uses Python's
``random`` with seed 59185, so the exact draw differs). Silence clips are 1 s
windows cut from the ``_background_noise_`` files at seeded uniform offsets; to keep
the splits disjoint, each noise file is cut in time into train / valid / test
regions (80 / 10 / 10 % by default), and windows of a split only come from its own
region (TensorFlow draws all splits from whole files).

Outputs: ``train.csv``, ``valid.csv``, ``test.csv`` (columns ``ID, duration, wav,
start, stop, label, speaker``; ``wav`` is relative to ``$data_root``, ``start`` and
``stop`` are sample indices, ``stop = -1`` = end of file) and ``labels.txt`` (the
class names in index order), ready for ``DynamicItemDataset.from_csv``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import ConfigError, UserError

__all__ = ["KWS12_KEYWORDS", "DIGIT_WORDS", "UNKNOWN_LABEL", "SILENCE_LABEL", "NOISE_FOLDER",
           "SPLITS", "CSV_FIELDS", "SpeechCommandsLayoutError", "speaker_of", "task_words",
           "scan_layout", "read_list", "split_clips", "silence_windows",
           "prepare_speech_commands", "speaker_overlap"]

logger = logging.getLogger(__name__)

KWS12_KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
UNKNOWN_LABEL = "_unknown_"
SILENCE_LABEL = "_silence_"
NOISE_FOLDER = "_background_noise_"
VALID_LIST = "validation_list.txt"
TEST_LIST = "testing_list.txt"
AUDIO_EXTENSIONS = (".wav", ".flac")
SPLITS = ("train", "valid", "test")
CSV_FIELDS = ("ID", "duration", "wav", "start", "stop", "label", "speaker")
OPTS_FILE = "prepare_opts.json"


class SpeechCommandsLayoutError(UserError):
    """Raised when a folder is not in the Google Speech Commands layout."""


def speaker_of(path: str) -> str:
    """Speaker id of a Speech Commands clip: the file-name part before ``_nohash_``.

    Parameters
    ----------
    path : str
        Clip path or file name, e.g. ``"yes/0a7c2a8d_nohash_0.wav"``.

    Returns
    -------
    str
        The speaker hash (the whole stem if ``_nohash_`` is absent).

    Examples
    --------
    >>> speaker_of("yes/0a7c2a8d_nohash_1.wav")
    '0a7c2a8d'
    """
    stem = Path(path).stem
    return stem.split("_nohash_")[0]


def task_words(
    task: str, word_folders: Sequence[str], keywords: Sequence[str] | None = None
) -> list[str]:
    """Keyword list of a task set-up.

    Parameters
    ----------
    task : str
        ``"kws12"``, ``"all"``, ``"digits"`` or ``"custom"`` (see module docstring).
    word_folders : sequence of str
        Word folders found in the data folder.
    keywords : sequence of str, optional
        The words of ``"custom"``.

    Returns
    -------
    list of str
        Keywords, in class-index order.

    Examples
    --------
    >>> task_words("digits", [])[:3]
    ['zero', 'one', 'two']
    """
    if task == "kws12":
        return list(KWS12_KEYWORDS)
    if task == "digits":
        return list(DIGIT_WORDS)
    if task == "all":
        return sorted(word_folders)
    if task == "custom":
        if not keywords:
            raise ConfigError("task='custom' needs a non-empty `keywords` list")
        return list(keywords)
    raise ConfigError(f"unknown task {task!r}; choose kws12, all, digits or custom")


def scan_layout(data_folder: str | os.PathLike) -> dict[str, list[str]]:
    """Check the Speech Commands layout and list the clips of every word folder.

    Parameters
    ----------
    data_folder : str or path
        Root of the unpacked dataset.

    Returns
    -------
    dict
        Word -> sorted relative clip paths (posix, e.g. ``"yes/abc_nohash_0.wav"``).

    Raises
    ------
    SpeechCommandsLayoutError
        If the folder, a split list or every word folder is missing.
    """
    root = Path(data_folder)
    hint = (
        "expected the Google Speech Commands layout: one folder per word holding "
        "<speaker>_nohash_<n>.wav clips, plus validation_list.txt, testing_list.txt "
        "and _background_noise_/ (download v0.02 from "
        "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz and unpack it)"
    )
    if not root.is_dir():
        raise SpeechCommandsLayoutError(f"data folder {str(root)!r} does not exist; {hint}")
    missing = [name for name in (VALID_LIST, TEST_LIST) if not (root / name).is_file()]
    if missing:
        raise SpeechCommandsLayoutError(f"{str(root)!r} has no {', '.join(missing)}; {hint}")
    words: dict[str, list[str]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if sub.name.startswith((".", "_")):
            continue
        clips = sorted(
            f"{sub.name}/{f.name}" for f in sub.iterdir() if f.suffix.lower() in AUDIO_EXTENSIONS
        )
        if clips:
            words[sub.name] = clips
    if not words:
        raise SpeechCommandsLayoutError(
            f"{str(root)!r} has no word folder with .wav/.flac clips; {hint}"
        )
    return words


def read_list(path: Path) -> set[str]:
    """Read an official split list as a set of normalised relative posix paths.

    Parameters
    ----------
    path : Path
        ``validation_list.txt`` or ``testing_list.txt``.

    Returns
    -------
    set of str
        Entries such as ``"yes/abc_nohash_0.wav"``.
    """
    with open(path, encoding="utf-8") as f:
        return {Path(line.strip()).as_posix() for line in f if line.strip()}


def split_clips(
    data_folder: str | os.PathLike, words: dict[str, list[str]]
) -> dict[str, dict[str, list[str]]]:
    """Assign every clip to a split from the official lists.

    Parameters
    ----------
    data_folder : str or path
        Dataset root.
    words : dict
        Output of :func:`scan_layout`.

    Returns
    -------
    dict
        split -> word -> sorted relative clip paths.

    Raises
    ------
    SpeechCommandsLayoutError
        If a list names a clip that does not exist or a clip is in both lists.
    """
    root = Path(data_folder)
    valid, test = read_list(root / VALID_LIST), read_list(root / TEST_LIST)
    both = valid & test
    if both:
        raise SpeechCommandsLayoutError(
            f"{len(both)} clips are in both lists, e.g. {sorted(both)[:3]}"
        )
    found = {clip for clips in words.values() for clip in clips}
    absent = sorted((valid | test) - found)
    if absent:
        raise SpeechCommandsLayoutError(
            f"{len(absent)} clips named in the split lists are missing from {str(root)!r}, "
            f"e.g. {absent[:3]}; is the folder complete?"
        )
    out: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
    for word, clips in words.items():
        for clip in clips:
            split = "valid" if clip in valid else "test" if clip in test else "train"
            out[split].setdefault(word, []).append(clip)
    return out


def silence_windows(
    data_folder: str | os.PathLike,
    counts: dict[str, int],
    region_fractions: Sequence[float],
    rng: np.random.Generator,
) -> dict[str, list[tuple[str, int, int]]]:
    """Cut 1 s silence windows from the background-noise files, disjoint across splits.

    Parameters
    ----------
    data_folder : str or path
        Dataset root holding ``_background_noise_/``.
    counts : dict
        split -> number of windows wanted.
    region_fractions : sequence of 3 float
        Share of each noise file (in time) given to train, valid and test.
    rng : numpy.random.Generator
        Seeded generator for the offsets.

    Returns
    -------
    dict
        split -> list of (relative noise path, start sample, stop sample).
    """
    noise_dir = Path(data_folder) / NOISE_FOLDER
    files = (
        sorted(f for f in noise_dir.glob("*") if f.suffix.lower() in AUDIO_EXTENSIONS)
        if noise_dir.is_dir()
        else []
    )
    if not files:
        raise SpeechCommandsLayoutError(
            f"no noise files in {str(noise_dir)!r}; the _silence_ class needs them "
            "(or set silence_fraction to 0)"
        )
    if len(region_fractions) != 3 or abs(sum(region_fractions) - 1.0) > 1e-6:
        raise ConfigError(
            f"silence_region_fractions must be 3 numbers summing to 1, got {region_fractions}"
        )
    edges = np.concatenate([[0.0], np.cumsum(region_fractions)])
    info = {f: sf.info(str(f)) for f in files}
    out: dict[str, list[tuple[str, int, int]]] = {}
    for i, split in enumerate(SPLITS):
        regions = []  # (file, first sample, end sample, window length), in the file's own samples
        for f in files:
            n, win = info[f].frames, info[f].samplerate
            lo, hi = int(edges[i] * n), int(edges[i + 1] * n)
            if hi - lo >= win:
                regions.append((f"{NOISE_FOLDER}/{f.name}", lo, hi, win))
        if counts.get(split, 0) and not regions:
            raise SpeechCommandsLayoutError(
                f"no noise file has a {split} region of at least 1 s; noise files are too short"
            )
        windows = []
        for k in range(counts.get(split, 0)):
            rel, lo, hi, win = regions[k % len(regions)]
            start = int(rng.integers(lo, hi - win + 1))
            windows.append((rel, start, start + win))
        out[split] = windows
    return out


def prepare_speech_commands(
    data_folder: str | os.PathLike,
    save_folder: str | os.PathLike,
    task: str = "kws12",
    keywords: Sequence[str] | None = None,
    unknown_fraction: float | None = None,
    silence_fraction: float | None = None,
    silence_region_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 1234,
    skip_prep: bool = False,
) -> dict[str, int]:
    """Write ``train/valid/test.csv`` and ``labels.txt`` for a Speech Commands folder.

    Parameters
    ----------
    data_folder : str or path
        Dataset root in the Speech Commands layout (see module docstring).
    save_folder : str or path
        Where the manifests go (created if needed).
    task : str
        ``"kws12"``, ``"all"``, ``"digits"`` or ``"custom"``.
    keywords : sequence of str, optional
        Keywords of ``task="custom"``.
    unknown_fraction, silence_fraction : float, optional
        Size of ``_unknown_`` / ``_silence_`` per split as a fraction of that split's
        keyword clips; ``0`` drops the class. Default 0.1 for ``"kws12"``, else 0.
    silence_region_fractions : sequence of 3 float
        Train/valid/test share (in time) of every noise file.
    seed : int
        Seed of the unknown draw and of the silence offsets.
    skip_prep : bool
        Do nothing (the manifests are assumed to exist).

    Returns
    -------
    dict
        Number of clips per ``"<split>/<label>"`` (empty when skipped).
    """
    if skip_prep:
        return {}
    save = Path(save_folder)
    default = 0.1 if task == "kws12" else 0.0
    unknown_fraction = default if unknown_fraction is None else float(unknown_fraction)
    silence_fraction = default if silence_fraction is None else float(silence_fraction)
    opts = {
        "data_folder": str(Path(data_folder).resolve()),
        "task": task,
        "keywords": list(keywords or []),
        "unknown_fraction": unknown_fraction,
        "silence_fraction": silence_fraction,
        "silence_region_fractions": list(silence_region_fractions),
        "seed": seed,
    }
    if _already_prepared(save, opts):
        logger.info("Speech Commands manifests in %s are up to date, skipping preparation", save)
        return {}

    words = scan_layout(data_folder)
    kws = task_words(task, list(words), keywords)
    absent = [w for w in kws if w not in words]
    if absent:
        raise SpeechCommandsLayoutError(
            f"task {task!r} needs word folders {absent} that {str(data_folder)!r} lacks "
            f"(found: {sorted(words)})"
        )
    splits = split_clips(data_folder, words)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict]] = {}
    n_kw = {s: sum(len(splits[s].get(w, [])) for w in kws) for s in SPLITS}
    n_silence = {s: math.ceil(silence_fraction * n_kw[s]) for s in SPLITS}
    silence = (
        silence_windows(data_folder, n_silence, silence_region_fractions, rng)
        if silence_fraction > 0
        else {}
    )
    for split in SPLITS:
        rows[split] = [_row(clip, w) for w in kws for clip in splits[split].get(w, [])]
        if unknown_fraction > 0:
            pool = sorted(c for w, clips in splits[split].items() if w not in kws for c in clips)
            n_unknown = min(math.ceil(unknown_fraction * n_kw[split]), len(pool))
            pick = rng.choice(len(pool), size=n_unknown, replace=False) if n_unknown else []
            rows[split] += [_row(pool[i], UNKNOWN_LABEL) for i in sorted(pick)]
        for rel, start, stop in silence.get(split, []):
            rows[split].append(
                {
                    "ID": f"{SILENCE_LABEL}{Path(rel).stem}_{start}",
                    "duration": 1.0,
                    "wav": f"$data_root/{rel}",
                    "start": start,
                    "stop": stop,
                    "label": SILENCE_LABEL,
                    "speaker": f"noise:{Path(rel).stem}",
                }
            )
    labels = (
        kws
        + ([UNKNOWN_LABEL] if unknown_fraction > 0 else [])
        + ([SILENCE_LABEL] if silence_fraction > 0 else [])
    )

    save.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        if not rows[split]:
            raise SpeechCommandsLayoutError(f"the {split} split is empty for task {task!r}")
        with open(save / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows[split])
    (save / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    shared = speaker_overlap(rows)
    if shared:
        logger.warning(
            "%d speakers occur in more than one split (e.g. %s)", len(shared), sorted(shared)[:3]
        )
    counts: dict[str, int] = {}
    for s in SPLITS:
        for label, n in Counter(r["label"] for r in rows[s]).items():
            counts[f"{s}/{label}"] = n
    logger.info("Speech Commands %s: %s", task, {s: len(rows[s]) for s in SPLITS})
    (save / OPTS_FILE).write_text(json.dumps(opts, indent=1), encoding="utf-8")
    return counts


def speaker_overlap(rows: dict[str, list[dict]]) -> set[str]:
    """Speakers (excluding noise sources) found in more than one split.

    Parameters
    ----------
    rows : dict
        split -> manifest rows with a ``speaker`` field.

    Returns
    -------
    set of str
        Speaker ids present in two or more splits.
    """
    seen: Counter = Counter()
    for split_rows in rows.values():
        seen.update(
            {r["speaker"] for r in split_rows if not str(r["speaker"]).startswith("noise:")}
        )
    return {spk for spk, n in seen.items() if n > 1}


def _row(clip: str, label: str) -> dict:
    """Manifest row of one word clip (whole file; duration is the nominal 1 s)."""
    word, name = clip.split("/", 1)
    return {
        "ID": f"{word}_{Path(name).stem}",
        "duration": 1.0,
        "wav": f"$data_root/{clip}",
        "start": 0,
        "stop": -1,
        "label": label,
        "speaker": speaker_of(name),
    }


def _already_prepared(save: Path, opts: dict) -> bool:
    """True if all manifests exist and were written with the same options."""
    files = [save / f"{s}.csv" for s in SPLITS] + [save / "labels.txt", save / OPTS_FILE]
    if not all(f.is_file() for f in files):
        return False
    return json.loads((save / OPTS_FILE).read_text(encoding="utf-8")) == opts
