"""The model folder a training run writes, and the inference interfaces that load it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from sparse.analysis.recording import Recording, populations_of, record_utterance
from sparse.efficiency import Efficiency
from sparse.inference import (
    Classification,
    InferenceError,
    SpikingASR,
    SpikingKWS,
    load_model,
)


def test_asr_run_writes_a_model_folder_and_efficiency_report(asr_run):
    folder = asr_run / "model"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "classifier.ckpt", "hyperparams.yaml", "label_encoder.txt",
                     "model.ckpt", "normalize.ckpt"]
    meta = yaml.safe_load((folder / "hyperparams.yaml").read_text().split("compute_features:")[0])
    assert (meta["kind"], meta["dt_ms"], meta["sample_rate"]) == ("asr", 10.0, 16000)
    assert "validation PER" in meta["metric"] and "test PER" in meta["metric"]
    readme = (folder / "README.md").read_text()
    assert "dt = 10 ms" in readme and "Trained on: TIMIT" in readme
    assert "nerve 148, cortex1 16" in readme  # 80 mels, kernel 7: 74 bins x 2 channels
    report = (asr_run / "efficiency.txt").read_text()
    assert "2 utterances" in report and "\ntotal " in report and "Horowitz" in report
    assert not (asr_run / "model.partial").exists()


def test_folder_holds_the_selected_checkpoint(asr_run):
    (ckpt,) = (asr_run / "save").glob("CKPT+*")
    exported = torch.load(asr_run / "model" / "model.ckpt", weights_only=True)
    trained = torch.load(ckpt / "model.ckpt", weights_only=True)
    assert exported.keys() == trained.keys()
    assert all(torch.equal(exported[k], trained[k]) for k in trained)
    stats = torch.load(asr_run / "model" / "normalize.ckpt", weights_only=True)
    assert stats["glob_mean"].shape == (80,) and stats["count"] > 0


def test_copied_folder_loads_anywhere_and_transcribes(asr_run, speech_file, tmp_path,
                                                      monkeypatch):
    copy = tmp_path / "elsewhere" / "my_model"
    shutil.copytree(asr_run / "model", copy)
    monkeypatch.chdir(tmp_path)
    asr = SpikingASR.from_hparams(source=str(copy), run_opts={"device": "cpu"})
    original = SpikingASR.from_hparams(source=asr_run / "model")
    text = asr.transcribe_file(speech_file)
    assert isinstance(text, str) and text == original.transcribe_file(speech_file)
    phones = set(asr.label_encoder.lab2ind)
    assert set(text.split()) <= phones
    wave = asr.load_audio(speech_file)
    words, tokens = asr.transcribe_batch(torch.stack([wave, wave]), torch.ones(2))
    assert words == [text, text] and tokens[0] == text.split()
    assert all(not p.requires_grad for p in asr.mods.parameters()) and not asr.mods.training


def test_encode_file_gives_every_population_with_dt(asr_run, speech_file):
    asr = load_model(asr_run / "model")
    assert isinstance(asr, SpikingASR)
    enc = asr.encode_file(speech_file)
    seconds = sf.info(str(speech_file)).duration
    frames = enc.feats.shape[1]
    assert frames == int(seconds * 100) + 1  # 10 ms hop, centred frames
    steps = asr.mods.model.spike_length(frames)
    assert list(enc.spikes) == ["nerve", "cortex1", "cortex2", "cortex3"]
    assert [tuple(s.shape) for s in enc.spikes.values()] == [
        (1, steps, 148), (1, steps, 16), (1, steps, 16), (1, steps, 16)]
    assert all(set(s.unique().tolist()) <= {0.0, 1.0} for s in enc.spikes.values())
    assert enc.dt_ms == 10.0 and float(enc.duration_s[0]) == pytest.approx(seconds)
    assert enc.outputs.shape == (1, asr.mods.model.output_length(frames), 16)
    assert enc.lag_steps == asr.mods.model.spike_lag == 4  # 7-frame upstream conv: T + 8


def test_an_encoding_is_what_the_analysis_records(asr_run, speech_file):
    asr = load_model(asr_run / "model")
    enc = asr.encode_file(speech_file)
    pops = populations_of(asr.mods.model)
    assert (pops.trains, pops.lag, pops.dt_ms) == (tuple(enc.spikes), enc.lag_steps, enc.dt_ms)
    rec = Recording.of(pops)
    frames = enc.feats.shape[1]
    record_utterance(rec, pops, "speech", "utt", {n: s[0].numpy() for n, s in enc.spikes.items()},
                     frames)
    cortex = enc.spikes["cortex1"][0, enc.lag_steps : enc.lag_steps + frames]
    assert rec.rates_hz["speech"]["cortex1"][0] == pytest.approx(
        (cortex.sum(0) / (frames * enc.dt_ms / 1000.0)).numpy())  # Hz over the aligned frames


def test_any_rate_and_channel_count_is_resampled_and_mixed(asr_run, speech_file, tmp_path):
    asr = load_model(asr_run / "model")
    wave, rate = sf.read(str(speech_file), dtype="float32")
    from scipy.signal import resample_poly

    stereo = np.stack([wave, wave], axis=1)
    sf.write(tmp_path / "stereo.wav", stereo, rate)
    sf.write(tmp_path / "8k.wav", resample_poly(wave, 1, 2).astype(np.float32), 8000)
    mono = asr.encode_file(speech_file).feats
    assert torch.allclose(asr.encode_file(tmp_path / "stereo.wav").feats, mono, atol=1e-4)
    low = asr.encode_file(tmp_path / "8k.wav")
    assert abs(low.feats.shape[1] - mono.shape[1]) <= 1  # same duration at 16 kHz
    assert float(low.duration_s[0]) == pytest.approx(float(len(wave)) / rate, abs=1e-3)


def test_clear_errors(asr_run, kws_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="model folder not found: .*nowhere"):
        SpikingASR.from_hparams(source=tmp_path / "nowhere")
    with pytest.raises(InferenceError, match="not a sparse model folder: no hyperparams.yaml"):
        load_model(asr_run / "save")
    with pytest.raises(InferenceError, match=r"not a model description .*its model is in .*model"):
        load_model(asr_run)  # the run's output folder (a training YAML), not its model/
    with pytest.raises(InferenceError, match="holds a model of kind 'asr': load it with "
                                             "sparse.inference.SpikingASR, not SpikingKWS"):
        SpikingKWS.from_hparams(source=asr_run / "model")
    asr = load_model(asr_run / "model")
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(InferenceError, match=r"cannot read audio file .*notes\.wav"):
        asr.transcribe_file(tmp_path / "notes.wav")
    with pytest.raises(InferenceError, match="audio file not found: .*missing.flac"):
        asr.transcribe_file(tmp_path / "missing.flac")
    with pytest.raises(InferenceError, match=r"expected mono waveforms \(batch, samples\)"):
        asr.transcribe_batch(torch.zeros(1, 2, 16000))
    broken = tmp_path / "broken"
    shutil.copytree(kws_run / "model", broken)
    (broken / "normalize.ckpt").unlink()
    with pytest.raises(InferenceError, match="lacks the weights normalize.ckpt"):
        load_model(broken)


def test_keyword_spotting_file_and_batch(kws_run, digit_file, tmp_path):
    kws = SpikingKWS.from_hparams(source=kws_run / "model")
    result = kws.classify_file(digit_file)
    assert isinstance(result, Classification)
    labels = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert list(result.posteriors) == labels and result.label in labels
    assert sum(result.posteriors.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.score == max(result.posteriors.values())
    wave = kws.load_audio(digit_file)
    posteriors, score, index, names = kws.classify_batch(torch.stack([wave, wave]))
    assert posteriors.shape == (2, 10) and names == [result.label] * 2
    assert float(score[0]) == pytest.approx(result.score, abs=1e-6)
    short, _ = sf.read(str(digit_file), dtype="float32")
    sf.write(tmp_path / "short.wav", short[:4000], 16000)  # 0.25 s: padded to the 1 s clip
    assert kws.encode_file(tmp_path / "short.wav").feats.shape[1] == 101


def test_efficiency_file_per_second_of_audio(kws_run, digit_file):
    kws = load_model(kws_run / "model")
    eff = kws.efficiency_file(digit_file)
    assert isinstance(eff, Efficiency) and eff.duration_s == pytest.approx(1.0)
    names = [r.name for r in eff.rows]
    assert names == ["nerve", "cortex1", "cortex2", "readout", "conv"]
    enc = kws.encode_file(digit_file)
    assert eff.rows[0].spikes == float(enc.spikes["nerve"].sum())
    info = kws.info()
    assert info["populations"] == {"nerve": 56, "cortex1": 32, "cortex2": 32}  # 20 - 7 + 1 bins x 4
    assert info["labels"] == 10 and info["kind"] == "kws"
