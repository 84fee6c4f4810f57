"""HD file names, lists, speaker split, resampling and Kaldi features; Speech Commands manifests."""

from __future__ import annotations

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
from sparse.data.audio import AudioError, load_waveform
from sparse.data.speech_commands import prepare_speech_commands


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


def test_load_waveform_resamples_pads_and_cuts(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, 0.5 * np.ones(4000, dtype=np.float32), 8000)
    clip = load_waveform(path, 16000, "polyphase", num_samples=16000)
    assert clip.shape == (16000,) and clip.dtype == torch.float32
    assert clip[:7000].abs().min() > 0.4 and clip[8100:].abs().max() == 0
    window = load_waveform(path, 8000, num_samples=1500, start=1000, stop=3000)
    assert window.shape == (1500,) and bool((window == 0.5).all())  # 2000 read, cut to 1500
    stereo = tmp_path / "b.wav"
    sf.write(stereo, np.stack([np.full(100, 0.25), np.full(100, 0.75)], axis=1), 16000)
    assert torch.allclose(load_waveform(stereo, 16000), torch.full((100,), 0.5))


def test_load_waveform_names_the_file_it_cannot_use(tmp_path):
    with pytest.raises(AudioError, match=r"audio file not found: .*missing\.wav"):
        load_waveform(tmp_path / "missing.wav", 16000)
    sf.write(tmp_path / "a.wav", np.zeros(100, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"a\.wav holds no samples in \[200, -1\)"):
        load_waveform(tmp_path / "a.wav", 16000, start=200)
    with pytest.raises(ValueError, match="resampler must be one of"):
        load_waveform(tmp_path / "a.wav", 8000, "linear")


def test_the_hd_reader_is_the_one_loader_with_sinc_resampling(tmp_path):
    """HD keeps torchaudio's sinc resampler (its results); the SPARSE recipes use polyphase."""
    from torchaudio.functional import resample

    rng = np.random.default_rng(0)
    sf.write(tmp_path / "a.flac", 0.1 * rng.standard_normal(4800), 48000, subtype="PCM_24")
    stored = torch.from_numpy(sf.read(tmp_path / "a.flac", dtype="float32")[0])
    sinc = read_audio_16k(tmp_path / "a.flac", 480, 4320)
    assert torch.equal(sinc, resample(stored[480:4320], 48000, 16000))
    assert torch.equal(sinc, load_waveform(tmp_path / "a.flac", 16000, "sinc", start=480,
                                           stop=4320))
    polyphase = load_waveform(tmp_path / "a.flac", 16000, start=480, stop=4320)
    assert polyphase.shape == sinc.shape and not torch.equal(polyphase, sinc)


def test_hd_fixture_speaker_split(tmp_path):
    make_hd_fixture(tmp_path, n_speakers=2, seconds=0.1)
    ds = hd_datasets(tmp_path, valid_speakers=[1])
    assert {k: len(v) for k, v in ds.items()} == {"test": 20, "train": 20, "valid": 20}
    assert all("speaker-01" in i for i in ds["valid"].data_ids)
    item = ds["test"][15]
    assert item["feats"].shape[1] == 40 and item["label"].tolist() == [15]
    assert len(hd_datasets(tmp_path, "test_as_valid")["valid"]) == 20


def test_speech_commands_manifests_from_the_preparer(tmp_path):
    words = ("bed", "cat", "yes")
    make_speech_commands_fixture(tmp_path / "sc", words=words, seconds=0.1)
    prepare_speech_commands(tmp_path / "sc", tmp_path / "m", task="all", unknown_fraction=0,
                            silence_fraction=0)
    ds, labels = manifest_datasets(tmp_path / "m", tmp_path / "sc")
    assert labels == list(words)
    assert {k: len(v) for k, v in ds.items()} == {"train": 6, "valid": 3, "test": 3}
    assert ds["test"][2]["label"].tolist() == [2] and ds["test"][2]["feats"].shape[1] == 40
