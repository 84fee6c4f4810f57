"""HD file names, lists, speaker split, resampling and Kaldi features; Speech Commands manifests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sparse.data import (
    fbank_features,
    hd_datasets,
    make_hd_fixture,
    make_speech_commands_fixture,
    manifest_datasets,
    parse_hd_name,
    read_audio_16k,
)

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "SpeechCommands"


def test_parse_hd_name_matches_sparch_rule():
    for name in ("lang-english_speaker-12_trial-3_digit-7.flac",
                 "lang-german_speaker-01_trial-0_digit-9.flac"):
        sparch = int(name[-6]) + 10 * (name[5] == "g")
        assert parse_hd_name(name)[0] == sparch
    with pytest.raises(ValueError, match=r"not an HD file name .*: 'digit\.flac'"):
        parse_hd_name("digit.flac")


def test_resampling_keeps_duration_and_fbank_shape(tmp_path):
    sf.write(tmp_path / "a.flac", np.zeros(48000, dtype=np.float32) + 0.01, 48000)
    wave = read_audio_16k(tmp_path / "a.flac")
    assert wave.shape == (16000,)
    assert fbank_features(wave).shape == (98, 40)
    assert fbank_features(torch.zeros(100)).shape == (1, 40)  # shorter than one window


def test_hd_fixture_speaker_split(tmp_path):
    make_hd_fixture(tmp_path, n_speakers=2, seconds=0.1)
    ds = hd_datasets(tmp_path, valid_speakers=[1])
    assert {k: len(v) for k, v in ds.items()} == {"test": 20, "train": 20, "valid": 20}
    assert all("speaker-01" in i for i in ds["valid"].data_ids)
    item = ds["test"][15]
    assert item["feats"].shape[1] == 40 and item["label"].tolist() == [15]
    assert len(hd_datasets(tmp_path, "test_as_valid")["valid"]) == 20


def _speech_commands_preparer():
    """The Speech Commands recipe's preparer, loaded from its file (sys.path and sys.modules
    stay as they are)."""
    spec = importlib.util.spec_from_file_location(
        "speech_commands_prepare_for_test", RECIPE / "speech_commands_prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speech_commands_manifests_from_the_preparer(tmp_path):
    prepare_speech_commands = _speech_commands_preparer().prepare_speech_commands

    words = ("bed", "cat", "yes")
    make_speech_commands_fixture(tmp_path / "sc", words=words, seconds=0.1)
    prepare_speech_commands(tmp_path / "sc", tmp_path / "m", task="all", unknown_fraction=0,
                            silence_fraction=0)
    ds, labels = manifest_datasets(tmp_path / "m", tmp_path / "sc")
    assert labels == list(words)
    assert {k: len(v) for k, v in ds.items()} == {"train": 6, "valid": 3, "test": 3}
    assert ds["test"][2]["label"].tolist() == [2] and ds["test"][2]["feats"].shape[1] == 40
