"""Build the bundled sample: FSDD spoken digits in the Google Speech Commands layout.

Reads the Free Spoken Digit Dataset (8 kHz FLAC + ``metadata.csv``) and writes::

    <out>/<word>/<speaker>_nohash_<index>.flac   words zero ... nine, 16 kHz, exactly 1 s
    <out>/validation_list.txt                   FSDD train recordings with index in --valid
    <out>/testing_list.txt                      FSDD test recordings (index 0-4)

Each clip is resampled 8 -> 16 kHz with ``scipy.signal.resample_poly`` (up 2, down 1),
centred in a 1 s window of zeros, or, if longer than 1 s, cut to its 1 s window of
highest energy; then written as 16-bit FLAC. The split follows FSDD's documented
one (recordings 0-4 are test); validation and training are disjoint index ranges
of FSDD's training recordings. FSDD splits by repetition, not by speaker, so all
six speakers occur in every split (unlike Speech Commands).

Run from the repository root (the default paths are relative to it)::

    python recipes/SpeechCommands/make_fsdd_sample.py --fsdd ../shared/data/fsdd
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TARGET_RATE = 16000


def fit_one_second(wave: np.ndarray, num_samples: int = TARGET_RATE) -> np.ndarray:
    """Centre a clip in ``num_samples`` zeros, or cut its window of highest energy.

    Parameters
    ----------
    wave : numpy.ndarray
        Mono waveform, shape (samples,).
    num_samples : int
        Output length in samples.

    Returns
    -------
    numpy.ndarray
        Shape (num_samples,), float32.

    Examples
    --------
    >>> fit_one_second(np.ones(10), 16).tolist()[:4]
    [0.0, 0.0, 0.0, 1.0]
    """
    out = np.zeros(num_samples, dtype=np.float32)
    if len(wave) <= num_samples:
        offset = (num_samples - len(wave)) // 2
        out[offset : offset + len(wave)] = wave
        return out
    energy = np.concatenate([[0.0], np.cumsum(np.asarray(wave, dtype=np.float64) ** 2)])
    start = int(np.argmax(energy[num_samples:] - energy[:-num_samples]))
    out[:] = wave[start : start + num_samples]
    return out


def index_range(text: str) -> range:
    """Parse ``"a-b"`` (inclusive) into a range.

    Parameters
    ----------
    text : str
        E.g. ``"5-6"``.

    Returns
    -------
    range
        ``range(a, b + 1)``.

    Examples
    --------
    >>> list(index_range("5-7"))
    [5, 6, 7]
    """
    lo, hi = (int(v) for v in text.split("-"))
    return range(lo, hi + 1)


def build(fsdd: Path, out: Path, test: range, valid: range, train: range) -> dict[str, int]:
    """Write the sample folder.

    Parameters
    ----------
    fsdd : Path
        FSDD folder with ``metadata.csv`` and ``recordings/``.
    out : Path
        Output folder (created).
    test, valid, train : range
        FSDD recording indices of each split (disjoint; ``test`` must be FSDD's 0-4).

    Returns
    -------
    dict
        Number of clips per split.
    """
    if set(test) & set(valid) or set(test) & set(train) or set(valid) & set(train):
        raise ValueError("index ranges of the splits overlap")
    with open(fsdd / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lists: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for row in rows:
        index = int(row["index"])
        split = (
            "test"
            if index in test
            else "valid"
            if index in valid
            else "train"
            if index in train
            else None
        )
        if split is None:
            continue
        if (split == "test") != (row["split"] == "test"):
            raise ValueError(
                f"{row['path']}: FSDD says {row['split']}, the sample would say {split}"
            )
        wave, rate = sf.read(fsdd / row["path"], dtype="float32")
        if rate != TARGET_RATE:
            wave = resample_poly(wave, TARGET_RATE, rate).astype(np.float32)
        rel = f"{WORDS[int(row['digit'])]}/{row['speaker']}_nohash_{index}.flac"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(out / rel, np.clip(fit_one_second(wave), -1.0, 1.0), TARGET_RATE, subtype="PCM_16")
        lists[split].append(rel)
    (out / "validation_list.txt").write_text("\n".join(sorted(lists["valid"])) + "\n")
    (out / "testing_list.txt").write_text("\n".join(sorted(lists["test"])) + "\n")
    return {k: len(v) for k, v in lists.items()}


def main() -> None:
    """Command-line entry point."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fsdd", type=Path, default=Path("../shared/data/fsdd"), help="FSDD folder"
    )
    parser.add_argument("--out", type=Path, default=here / "sample_fsdd", help="output folder")
    parser.add_argument(
        "--test", type=index_range, default=index_range("0-4"), help="test indices (FSDD: 0-4)"
    )
    parser.add_argument(
        "--valid", type=index_range, default=index_range("5-6"), help="validation indices"
    )
    parser.add_argument(
        "--train", type=index_range, default=index_range("10-21"), help="training indices"
    )
    args = parser.parse_args()
    print(build(args.fsdd, args.out, args.test, args.valid, args.train))


if __name__ == "__main__":
    main()
