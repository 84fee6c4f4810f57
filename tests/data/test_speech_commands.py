"""Speech Commands preparer (:mod:`sparse.data.speech_commands`) on a small generated tree in
the official layout."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sparse.data import speech_commands
from sparse.data.speech_commands import (
    KWS12_KEYWORDS,
    SILENCE_LABEL,
    UNKNOWN_LABEL,
    SpeechCommandsLayoutError,
    prepare_speech_commands,
    speaker_of,
)

OTHER_WORDS = ("bed", "cat", "dog", "wow")
SPEAKERS = [f"{i:08x}" for i in range(0x1A2B3C00, 0x1A2B3C00 + 20)]
RATE = 16000


def _which_split(speaker: str) -> str:
    """Speaker-hash split in the spirit of Google's lists (10 % valid, 10 % test)."""
    bucket = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 10
    return "valid" if bucket == 0 else "test" if bucket == 1 else "train"


def make_tree(
    root: Path, words=KWS12_KEYWORDS + OTHER_WORDS, noise_seconds=(15.0, 12.0)
) -> dict[str, set]:
    """Write tiny clips (0.05 s) for every (word, speaker, repetition) and the two lists."""
    rng = np.random.default_rng(0)
    lists: dict[str, set] = {"train": set(), "valid": set(), "test": set()}
    for word in words:
        (root / word).mkdir(parents=True)
        for spk in SPEAKERS:
            for rep in range(2):
                rel = f"{word}/{spk}_nohash_{rep}.wav"
                sf.write(root / rel, 0.01 * rng.standard_normal(800), RATE)
                lists[_which_split(spk)].add(rel)
    (root / "validation_list.txt").write_text("\n".join(sorted(lists["valid"])) + "\n")
    (root / "testing_list.txt").write_text("\n".join(sorted(lists["test"])) + "\n")
    (root / "_background_noise_").mkdir()
    for i, sec in enumerate(noise_seconds):
        sf.write(
            root / "_background_noise_" / f"noise{i}.wav",
            0.1 * rng.standard_normal(int(sec * RATE)),
            RATE,
        )
    return lists


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture()
def tree(tmp_path: Path) -> tuple[Path, dict[str, set]]:
    lists = make_tree(tmp_path / "sc")
    assert all(lists.values()), "the generated speakers must fill every split"
    return tmp_path / "sc", lists


def test_kws12_counts_balance_and_speakers(tree, tmp_path):
    root, lists = tree
    counts = prepare_speech_commands(root, tmp_path / "save", task="kws12", seed=3)
    labels = (tmp_path / "save" / "labels.txt").read_text().split()
    assert labels == list(KWS12_KEYWORDS) + [UNKNOWN_LABEL, SILENCE_LABEL]
    speakers = {}
    for split in ("train", "valid", "test"):
        rows = read_rows(tmp_path / "save" / f"{split}.csv")
        per_label = Counter(r["label"] for r in rows)
        n_spk = len({speaker_of(p) for p in lists[split]})
        # each keyword: 2 repetitions x speakers of the split; unknown = silence = 10 % of that
        assert all(per_label[w] == 2 * n_spk for w in KWS12_KEYWORDS), per_label
        assert per_label[UNKNOWN_LABEL] == per_label[SILENCE_LABEL] == 2 * n_spk
        assert {k: counts[f"{split}/{k}"] for k in per_label} == dict(per_label)
        unknown_words = {r["wav"].split("/")[1] for r in rows if r["label"] == UNKNOWN_LABEL}
        assert unknown_words <= set(OTHER_WORDS)
        speakers[split] = {r["speaker"] for r in rows if r["label"] != SILENCE_LABEL}
        # the split of each word clip is the one of the official lists
        for r in rows:
            if r["label"] != SILENCE_LABEL:
                assert r["wav"].removeprefix("$data_root/") in lists[split]
    assert not speakers["train"] & speakers["valid"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["valid"] & speakers["test"]


def test_silence_windows_are_disjoint_across_splits(tree, tmp_path):
    root, _ = tree
    prepare_speech_commands(root, tmp_path / "save", task="kws12")
    spans = {}
    for split in ("train", "valid", "test"):
        sil = [
            r for r in read_rows(tmp_path / "save" / f"{split}.csv") if r["label"] == SILENCE_LABEL
        ]
        assert all(int(r["stop"]) - int(r["start"]) == RATE for r in sil)
        for r in sil:
            spans.setdefault((r["wav"], split), []).append((int(r["start"]), int(r["stop"])))
    for wav in {w for w, _ in spans}:
        ranges = [
            (min(a for a, _ in v), max(b for _, b in v))
            for (w, s), v in sorted(spans.items())
            if w == wav
        ]
        ranges.sort()
        assert all(hi <= lo2 for (_, hi), (lo2, _) in zip(ranges, ranges[1:], strict=False))


def test_all_words_and_seed(tree, tmp_path):
    root, _ = tree
    prepare_speech_commands(root, tmp_path / "a", task="all")
    labels = (tmp_path / "a" / "labels.txt").read_text().split()
    assert labels == sorted(KWS12_KEYWORDS + OTHER_WORDS)
    total = sum(len(read_rows(tmp_path / "a" / f"{s}.csv")) for s in ("train", "valid", "test"))
    assert total == len(labels) * len(SPEAKERS) * 2
    # the unknown draw depends on the seed only
    prepare_speech_commands(root, tmp_path / "b", task="kws12", seed=7)
    prepare_speech_commands(root, tmp_path / "c", task="kws12", seed=7)
    assert (tmp_path / "b" / "train.csv").read_text() == (tmp_path / "c" / "train.csv").read_text()


def test_layout_errors(tmp_path):
    with pytest.raises(SpeechCommandsLayoutError, match="does not exist"):
        prepare_speech_commands(tmp_path / "nope", tmp_path / "save")
    (tmp_path / "flat").mkdir()
    sf.write(tmp_path / "flat" / "a.wav", np.zeros(100), RATE)
    with pytest.raises(SpeechCommandsLayoutError, match="validation_list.txt"):
        prepare_speech_commands(tmp_path / "flat", tmp_path / "save")
    root = tmp_path / "digits"
    lists = make_tree(root, words=("zero", "one"))
    with pytest.raises(SpeechCommandsLayoutError, match="lacks"):
        prepare_speech_commands(root, tmp_path / "save", task="kws12")
    (root / sorted(lists["valid"])[0]).unlink()
    with pytest.raises(SpeechCommandsLayoutError, match="missing"):
        prepare_speech_commands(root, tmp_path / "save", task="custom", keywords=["zero", "one"])


def test_the_recipe_folder_preparer_re_exports_the_package_one():
    """``recipes/SpeechCommands/speech_commands_prepare.py`` is where SpeechBrain users look."""
    path = Path(__file__).resolve().parents[2] / "recipes" / "SpeechCommands" / \
        "speech_commands_prepare.py"
    spec = importlib.util.spec_from_file_location("speech_commands_prepare_for_test", path)
    module = importlib.util.module_from_spec(spec)  # loaded from its file: sys.path untouched
    spec.loader.exec_module(module)
    assert module.prepare_speech_commands is speech_commands.prepare_speech_commands
    assert set(module.__all__) <= set(speech_commands.__all__)
