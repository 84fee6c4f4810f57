"""Tiny generated data sets in the real layouts, so every SpArch recipe runs offline.

The contents are synthetic and class-dependent (so a model can learn something), never
real recordings; numbers obtained on them mean nothing. Each generator is seeded and
writes exactly the files the corresponding reader expects:

* :func:`make_spike_fixture` -- ``{shd|ssc}_{train,[valid,]test}.h5`` (700 channels,
  ``extra/speaker``), including events exactly at and beyond ``max_time``;
* :func:`make_hd_fixture` -- ``audio/*.flac`` at 48 kHz (exercises resampling) +
  ``train_filenames.txt`` / ``test_filenames.txt``, 20 classes;
* :func:`make_speech_commands_fixture` -- the Google Speech Commands v0.02 layout
  (35 word folders, ``validation_list.txt``, ``testing_list.txt``), 16 kHz wav.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .shd import NB_CLASSES, NB_UNITS, write_spike_h5

__all__ = ["SC35_WORDS", "make_spike_fixture", "make_hd_fixture", "make_speech_commands_fixture"]

#: The 35 words of Speech Commands v0.02.
SC35_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four",
    "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right",
    "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)


def _spike_example(label: int, n_classes: int, rng: np.random.Generator, max_time: float,
                   n_events: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Events concentrated on a class-specific channel band, plus two edge-case events."""
    band = NB_UNITS // n_classes
    units = rng.integers(label * band, (label + 1) * band, size=n_events)
    times = np.sort(rng.uniform(0.0, max_time, size=n_events))
    times = np.concatenate([times, [max_time, max_time + 0.1]])  # at the edge, beyond it
    units = np.concatenate([units, [label * band, label * band]])
    return times.astype(np.float32), units.astype(np.uint16)


def make_spike_fixture(folder: str | Path, task: str = "shd", per_class: int = 1,
                       n_speakers: int = 3, max_time: float = 1.4, seed: int = 0) -> Path:
    """Write a tiny SHD or SSC data set; returns ``folder``.

    Training has ``per_class`` examples per class and speaker; valid (SSC only) and test
    one example per class from an extra speaker.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_classes = NB_CLASSES[task]
    rng = np.random.default_rng(seed)
    splits = {"train": list(range(n_speakers)), "test": [n_speakers]}
    if task == "ssc":
        splits["valid"] = [n_speakers + 1]
    for split, speakers in splits.items():
        times, units, labels, spk = [], [], [], []
        for s in speakers:
            for c in range(n_classes):
                for _ in range(per_class if split == "train" else 1):
                    t, u = _spike_example(c, n_classes, rng, max_time)
                    times.append(t), units.append(u), labels.append(c), spk.append(s)
        write_spike_h5(folder / f"{task}_{split}.h5", times, units, labels, spk)
    return folder


def _tone(freq: float, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    return (wave * np.hanning(t.size)).astype(np.float32)


def make_hd_fixture(folder: str | Path, n_speakers: int = 3, seconds: float = 0.25,
                    rate: int = 48000, seed: int = 0) -> Path:
    """Write a tiny Heidelberg Digits set (one file per class and speaker); returns ``folder``.

    Speakers ``0 .. n_speakers-1`` are training, speaker ``n_speakers`` is test. File lengths
    vary slightly per speaker so batches need padding.
    """
    folder = Path(folder)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lists: dict[str, list[str]] = {"train": [], "test": []}
    for spk in range(n_speakers + 1):
        split = "train" if spk < n_speakers else "test"
        for label in range(20):
            lang, digit = ("german", label - 10) if label >= 10 else ("english", label)
            name = f"lang-{lang}_speaker-{spk:02d}_trial-0_digit-{digit}.flac"
            dur = seconds * (1.0 + 0.2 * spk)
            sf.write(folder / "audio" / name, _tone(200.0 + 150.0 * label, dur, rate, rng), rate)
            lists[split].append(name)
    for split, names in lists.items():
        (folder / f"{split}_filenames.txt").write_text("\n".join(names) + "\n")
    return folder


def make_speech_commands_fixture(folder: str | Path, words: tuple[str, ...] = SC35_WORDS,
                                 seconds: float = 0.25, rate: int = 16000, seed: int = 0) -> Path:
    """Write a tiny Speech Commands tree: per word, 2 training, 1 validation and 1 test clip.

    Speaker ``aa000000`` and ``aa000001`` are training, ``bb000000`` validation and
    ``cc000000`` test, as the official lists would separate speakers. Returns ``folder``.
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    valid, test = [], []
    for i, word in enumerate(words):
        (folder / word).mkdir(parents=True, exist_ok=True)
        for spk in ("aa000000", "aa000001", "bb000000", "cc000000"):
            rel = f"{word}/{spk}_nohash_0.wav"
            sf.write(folder / rel, _tone(150.0 + 60.0 * i, seconds, rate, rng), rate)
            if spk.startswith("bb"):
                valid.append(rel)
            elif spk.startswith("cc"):
                test.append(rel)
    (folder / "validation_list.txt").write_text("\n".join(valid) + "\n")
    (folder / "testing_list.txt").write_text("\n".join(test) + "\n")
    return folder
