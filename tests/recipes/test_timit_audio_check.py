"""Audio checked before training: every file decoded, every bad file named, results cached."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

import sparse.data.audio as audio_check
from sparse.data.audio import check_audio_files
from sparse.recipe import RecipeError, recipe_overrides

SAMPLE = Path(__file__).resolve().parents[2] / "recipes" / "TIMIT" / "sample"


def _sample_flacs(count: int) -> list[Path]:
    return sorted((SAMPLE / "audio" / "train").glob("*.flac"))[:count]


@pytest.fixture
def audio(tmp_path) -> dict[str, str]:
    """Three good FLAC copies, one truncated FLAC, one missing file, one at 8 kHz."""
    files = {}
    for i, source in enumerate(_sample_flacs(4)):
        target = tmp_path / f"utt{i}.flac"
        shutil.copyfile(source, target)
        files[f"utt{i}"] = str(target)
    data = Path(files["utt3"]).read_bytes()
    Path(files["utt3"]).write_bytes(data[: len(data) * 2 // 3])  # header intact, tail lost
    files["gone"] = str(tmp_path / "gone.flac")
    soundfile.write(tmp_path / "slow.flac", np.zeros(800, dtype=np.float32), 8000)
    files["slow"] = str(tmp_path / "slow.flac")
    return files


def test_every_bad_file_is_named_in_one_error(audio):
    with pytest.raises(RecipeError, match=r"^train\.json: 3 of 6 audio files cannot be used") \
            as caught:
        check_audio_files(audio, sample_rate=16000, where="train.json")
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("train.json: 3 of 6 audio files cannot be used")
    assert len(lines) == 4
    text = str(caught.value)
    assert "'utt3' is corrupt or unreadable" in text and audio["utt3"] in text
    assert f"'gone' not found: {audio['gone']}" in text
    assert f"'slow' has 8000 Hz, expected 16000 Hz: {audio['slow']}" in text
    assert "'utt0'" not in text


def test_a_truncated_flac_passes_the_header_check_but_not_the_decode(audio):
    truncated = {"utt3": audio["utt3"]}
    check_audio_files(truncated, sample_rate=16000, decode=False)  # what the old check did
    with pytest.raises(RecipeError, match=r"^m: audio file of 'utt3' is corrupt or unreadable: "):
        check_audio_files(truncated, sample_rate=16000, where="m")


def test_a_file_with_fewer_samples_than_its_header_says_is_reported(tmp_path, monkeypatch):
    path = tmp_path / "short.flac"
    soundfile.write(path, np.zeros(1000, dtype=np.float32), 16000)

    class Info:
        frames, samplerate = 1600, 16000

    monkeypatch.setattr(soundfile, "info", lambda _: Info())
    problem, record = audio_check.audio_file_problem(path, 16000)
    assert problem == "is truncated (decoded 1000 of 1600 frames)" and record is None


def test_checked_files_are_cached_and_rechecked_when_changed(audio, tmp_path, monkeypatch):
    good = {k: audio[k] for k in ("utt0", "utt1", "utt2")}
    cache = tmp_path / "save" / "audio_check.json"
    calls = []
    real = audio_check.audio_file_problem
    monkeypatch.setattr(audio_check, "audio_file_problem",
                        lambda *a: calls.append(a[0]) or real(*a))
    check_audio_files(good, sample_rate=16000, cache_file=cache)
    assert len(calls) == 3
    records = json.loads(cache.read_text())["files"]
    assert set(records) == {os.path.abspath(p) for p in good.values()}
    assert all(r["decoded"] and r["rate"] == 16000 for r in records.values())
    calls.clear()
    check_audio_files(good, sample_rate=16000, cache_file=cache)
    assert calls == []  # nothing decoded again
    # a file replaced by a truncated one (new size and time) is decoded again and reported
    Path(good["utt1"]).write_bytes(Path(audio["utt3"]).read_bytes())
    with pytest.raises(RecipeError, match="'utt1' is corrupt or unreadable"):
        check_audio_files(good, sample_rate=16000, cache_file=cache)
    assert calls == [os.path.abspath(good["utt1"])]
    assert os.path.abspath(good["utt1"]) not in json.loads(cache.read_text())["files"]
    # a header-only record does not count as decoded; another rate is checked again
    calls.clear()
    check_audio_files({"utt0": good["utt0"]}, sample_rate=8000 * 2, cache_file=cache)
    assert calls == []
    with pytest.raises(RecipeError, match="expected 8000 Hz"):
        check_audio_files({"utt0": good["utt0"]}, sample_rate=8000, cache_file=cache)


def test_a_damaged_cache_is_ignored(audio, tmp_path):
    cache = tmp_path / "audio_check.json"
    cache.write_text("{not json")
    check_audio_files({"utt0": audio["utt0"]}, cache_file=cache)
    assert json.loads(cache.read_text())["version"] == audio_check.AUDIO_CHECK_VERSION


YAML = """
data_folder: null
epochs: 10
lr: 0.001
out: !ref results/run
sample:
    epochs: 2
    lr: 0.01
    out: !ref results/run_sample
"""


def test_recipe_overrides_hold_the_sample_block_under_the_command_line(tmp_path):
    hp_file = tmp_path / "hp.yaml"
    hp_file.write_text(YAML)

    def no_data(hp):
        return hp.get("data_folder") is None

    text, sample = recipe_overrides(hp_file, "lr: 0.5", use_sample=no_data)
    assert sample and text.splitlines() == [
        "epochs: 2", 'out: "results/run_sample"', "lr: 0.5"
    ]
    text, sample = recipe_overrides(hp_file, "data_folder: /x", use_sample=no_data)
    assert not sample and text == "data_folder: /x"
