"""The 12-class keyword path (``--data_folder`` on a Speech Commands tree) on a handful of clips.

The tree has the layout that ``make_tree.py`` of the Speech Commands development clips writes
(and the official v0.02 archive has): 16-bit WAV clips in word folders, speaker-disjoint
``validation_list.txt`` / ``testing_list.txt`` and ``_background_noise_/``. It is built in a
temporary folder from the bundled FSDD sample: digit ``d`` is spoken as keyword ``d`` of the
12-class task, a few other takes become two non-keyword words (``_unknown_``), and the noise
files are quiet generated noise (``_silence_``). Plumbing only: no accuracy is checked.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sparse.data.speech_commands import DIGIT_WORDS, KWS12_KEYWORDS

FSDD = Path(__file__).resolve().parents[2] / "recipes" / "SpeechCommands" / "sample_fsdd"
SPLIT_OF_SPEAKER = {"nicolas": "valid", "theo": "test"}  # the 4 others train
UNKNOWN_WORDS = {"bed": "one", "wow": "two"}  # non-keyword folder -> FSDD digit it takes from


def make_dev_tree(root: Path) -> dict[str, list[str]]:
    """Write the tree; return the clips of each split (relative paths)."""
    splits: dict[str, list[str]] = {"train": [], "valid": [], "test": []}

    def copy(digit: str, take: int, word: str) -> None:
        for src in sorted((FSDD / digit).glob(f"*_nohash_{take}.flac")):
            speaker = src.name.split("_nohash_")[0]
            rel = f"{word}/{speaker}_nohash_{take}.wav"
            audio, rate = sf.read(src, dtype="int16")
            (root / word).mkdir(parents=True, exist_ok=True)
            sf.write(root / rel, audio, rate, subtype="PCM_16")
            splits[SPLIT_OF_SPEAKER.get(speaker, "train")].append(rel)

    for digit, keyword in zip(DIGIT_WORDS, KWS12_KEYWORDS, strict=True):
        copy(digit, 10, keyword)  # take 10: a training take of the FSDD sample
    for word, digit in UNKNOWN_WORDS.items():
        copy(digit, 11, word)
    (root / "validation_list.txt").write_text("\n".join(sorted(splits["valid"])) + "\n")
    (root / "testing_list.txt").write_text("\n".join(sorted(splits["test"])) + "\n")
    noise = root / "_background_noise_"
    noise.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):  # >= 10 s each, so that the 10 % valid/test parts hold a 1 s window
        sf.write(noise / f"noise_{i}.wav", (300 * rng.standard_normal(12 * 16000)).astype(
            np.int16), 16000, subtype="PCM_16")
    return splits


@pytest.mark.slow
def test_kws12_run_on_a_dev_tree(tmp_path, run_kws, kws_tiny):
    tree, out = tmp_path / "sc_dev", tmp_path / "run"
    splits = make_dev_tree(tree)
    assert all(splits.values())
    proc = run_kws(
        "run_training.py",
        "speech_commands_train.yaml",
        [f"--data_folder={tree}", f"--output_folder={out}", "--number_of_epochs=1",
         *[a for a in kws_tiny if not a.startswith(("--train_subset", "--eval_subset"))]],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    labels = (out / "save" / "labels.txt").read_text().split()
    assert labels == [*KWS12_KEYWORDS, "_unknown_", "_silence_"]
    with open(out / "save" / "train.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_label = {row["label"] for row in rows}
    assert by_label == set(labels)
    silence = [row for row in rows if row["label"] == "_silence_"]
    assert all("_background_noise_" in row["wav"] for row in silence)
    assert all(int(row["stop"]) - int(row["start"]) == 16000 for row in silence)
    keyword_rows = [row for row in rows if row["label"] in KWS12_KEYWORDS]
    assert len(keyword_rows) == len([c for c in splits["train"] if c.split("/")[0]
                                     in KWS12_KEYWORDS])
    log = (out / "train_log.txt").read_text()
    assert "epoch: 1" in log and "test accuracy:" in log
    report = (out / "test_accuracy.txt").read_text().splitlines()
    assert report[0].endswith("/12)")  # 10 keyword clips + ceil(10 %) unknown + silence
    assert [line.split(":")[0].strip() for line in report[1:]] == labels
