"""Build the bundled TIMIT-format sample corpus from speechocean762 (Apache-2.0).

The result, ``recipes/TIMIT/sample/``, is committed to the repository so that
``python recipes/TIMIT/run_training.py hparams/timit_train.yaml`` runs without any download. It is
**not** TIMIT: it is real read English speech (speechocean762, non-native speakers) written in the
same manifest format as :func:`sparse.data.timit.prepare_timit`, with phones mapped to the TIMIT
39-phone set.

What the script does, in order:

1. Reads ``train.csv`` and ``test.csv`` of a speechocean762 subset (columns ``id, speaker, wav,
   duration_s, words, phones``; phones are upper-case 39-phone CMU ARPAbet without stress).
2. Splits by speaker: ``train`` and ``dev`` come from disjoint speakers of the official train
   side, ``test`` from speakers of the official test side.
3. Trims leading and trailing silence (energy below ``max - trim_db`` dB in 20 ms frames), keeping
   ``margin_s`` seconds of context on each side, and keeps utterances no longer than
   ``max_seconds``.
4. Maps phones to TIMIT-39: lower case, ``AO → aa``, ``ZH → sh`` (the CMU set has no ``dx``).
   A ``sil`` is added at the start (end) when at least ``sil_min_s`` of silence is kept there,
   as TIMIT transcriptions begin and end with ``h#`` (folded to ``sil``).
5. Picks utterances round-robin over speakers with a seeded RNG, writes 16-bit FLAC files and the
   manifests ``train.json``, ``dev.json``, ``test.json`` with ``{data_root}``-relative paths.

Usage (from the repository root)::

    python recipes/TIMIT/make_sample.py --source <path to speechocean762 subset>

The same script writes a bigger manifest folder for ``run_training.py --manifest_folder`` (see
``recipes/TIMIT/README.md``), e.g. all 1000 train-side utterances split by speaker into train
and dev, and the 300 test-side ones::

    python recipes/TIMIT/make_sample.py --source <subset> --out results/speechocean762_ctc \
        --n-train 1000 --n-dev 1000 --n-test 300 --dev-speakers 20 --max-seconds 30
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

HERE = Path(__file__).resolve().parent

#: CMU ARPAbet (no stress) → TIMIT-39. Identity for the 37 phones the sets share.
CMU_TO_TIMIT39 = {"AO": "aa", "ZH": "sh"}


@dataclass(frozen=True)
class Utterance:
    """One source utterance."""

    utt_id: str
    speaker: str
    wav: Path
    words: str
    phones: tuple[str, ...]


def cmu_to_timit39(phones: list[str] | tuple[str, ...]) -> list[str]:
    """Map upper-case CMU phones to lower-case TIMIT-39 labels.

    Examples
    --------
    >>> cmu_to_timit39(["HH", "AO", "R", "S", "ZH"])
    ['hh', 'aa', 'r', 's', 'sh']
    """
    return [CMU_TO_TIMIT39.get(p.upper(), p.lower()) for p in phones]


def read_csv(path: Path) -> list[Utterance]:
    """Rows of a speechocean762 CSV as :class:`Utterance` (audio path resolved)."""
    with open(path, newline="", encoding="utf-8") as stream:
        return [
            Utterance(row["id"], row["speaker"], path.parent / row["wav"], row["words"],
                      tuple(row["phones"].split()))
            for row in csv.DictReader(stream)
        ]  # fmt: skip


def speech_bounds(wave: np.ndarray, rate: int, trim_db: float) -> tuple[int, int]:
    """First and one-past-last sample of the region louder than ``max - trim_db`` dB.

    Parameters
    ----------
    wave : np.ndarray
        (samples,) waveform.
    rate : int
        Sampling rate in Hz.
    trim_db : float
        Threshold below the loudest 20 ms frame, in dB.

    Returns
    -------
    (int, int)
        Sample indices ``start, stop``.
    """
    frame, hop = int(0.02 * rate), int(0.01 * rate)
    if len(wave) <= frame:
        return 0, len(wave)
    starts = np.arange(0, len(wave) - frame + 1, hop)
    energy = np.array([np.mean(wave[s : s + frame] ** 2) for s in starts])
    level = 10 * np.log10(energy + 1e-12)
    active = np.flatnonzero(level > level.max() - trim_db)
    return int(starts[active[0]]), int(starts[active[-1]] + frame)


def trim(utt: Utterance, args: argparse.Namespace) -> tuple[np.ndarray, int, bool, bool]:
    """Trimmed waveform, rate, and whether a start / end silence of ``sil_min_s`` was kept."""
    wave, rate = soundfile.read(str(utt.wav), dtype="float32")
    start, stop = speech_bounds(wave, rate, args.trim_db)
    margin = int(args.margin_s * rate)
    new_start, new_stop = max(0, start - margin), min(len(wave), stop + margin)
    lead_sil = (start - new_start) >= args.sil_min_s * rate
    tail_sil = (new_stop - stop) >= args.sil_min_s * rate
    return wave[new_start:new_stop], rate, lead_sil, tail_sil


def pick(utts: list[Utterance], count: int, rng: random.Random, args) -> list[tuple]:
    """Up to ``count`` trimmed utterances ≤ ``max_seconds``, round-robin over speakers."""
    by_speaker: dict[str, list[Utterance]] = defaultdict(list)
    for utt in utts:
        by_speaker[utt.speaker].append(utt)
    queues = [rng.sample(v, len(v)) for _, v in sorted(by_speaker.items())]
    rng.shuffle(queues)
    chosen: list[tuple] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            while queue and len(chosen) < count:
                utt = queue.pop()
                wave, rate, lead, tail = trim(utt, args)
                if len(wave) / rate <= args.max_seconds:
                    chosen.append((utt, wave, rate, lead, tail))
                    break
    return chosen


def write_split(name: str, chosen: list[tuple], out: Path) -> dict:
    """Write FLAC files of one split and return its manifest."""
    folder = out / "audio" / name
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for utt, wave, rate, lead, tail in sorted(chosen, key=lambda c: c[0].utt_id):
        soundfile.write(str(folder / f"{utt.utt_id}.flac"), wave, rate, subtype="PCM_16")
        phones = cmu_to_timit39(utt.phones)
        phones = (["sil"] if lead else []) + phones + (["sil"] if tail else [])
        manifest[f"SO762_{utt.utt_id}"] = {
            "wav": f"{{data_root}}/audio/{name}/{utt.utt_id}.flac",
            "duration": round(len(wave) / rate, 4),
            "spk_id": f"SO762_{utt.speaker}",
            "phn": " ".join(phones),
            "wrd": utt.words,
        }
    return manifest


def build(args: argparse.Namespace) -> None:
    """Build the sample folder described in the module docstring."""
    source, out = Path(args.source), Path(args.out)
    rng = random.Random(args.seed)
    train_side = read_csv(source / "train.csv")
    test_side = read_csv(source / "test.csv")
    speakers = sorted({u.speaker for u in train_side})
    rng.shuffle(speakers)
    dev_speakers = set(speakers[: args.dev_speakers])
    if out.exists():
        shutil.rmtree(out / "audio", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    splits = {
        "train": [u for u in train_side if u.speaker not in dev_speakers],
        "dev": [u for u in train_side if u.speaker in dev_speakers],
        "test": test_side,
    }
    counts = {"train": args.n_train, "dev": args.n_dev, "test": args.n_test}
    for name, utts in splits.items():
        manifest = write_split(name, pick(utts, counts[name], rng, args), out)
        (out / f"{name}.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        seconds = sum(e["duration"] for e in manifest.values())
        speakers_n = len({e["spk_id"] for e in manifest.values()})
        print(f"{name}: {len(manifest)} utterances, {speakers_n} speakers, {seconds:.1f} s")
    shutil.copyfile(source / "LICENSE", out / "LICENSE")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (defaults = the committed sample)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="speechocean762 subset folder")
    parser.add_argument("--out", default=str(HERE / "sample"))
    parser.add_argument("--n-train", type=int, default=96)
    parser.add_argument("--n-dev", type=int, default=24)
    parser.add_argument("--n-test", type=int, default=24)
    parser.add_argument("--dev-speakers", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=2.5)
    parser.add_argument("--margin-s", type=float, default=0.15)
    parser.add_argument("--sil-min-s", type=float, default=0.1)
    parser.add_argument("--trim-db", type=float, default=35.0)
    parser.add_argument("--seed", type=int, default=762)
    return parser.parse_args(argv)


if __name__ == "__main__":
    build(parse_args())
