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
    ShortAudioWarning,
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
    assert words == [text, text]  # SpeechBrain's (predicted_words, predicted_tokens)
    assert all(isinstance(t, int) for t in tokens[0])
    assert [asr.label_encoder.ind2lab[t] for t in tokens[0]] == text.split()
    out = asr(wave[None])  # forward is encode_batch, as EncoderASR's
    assert torch.equal(out, asr.encode_batch(wave[None])) and out.shape[2] == 16
    assert all(not p.requires_grad for p in asr.mods.parameters()) and not asr.mods.training


def test_spikes_file_gives_every_population_with_dt(asr_run, speech_file):
    asr = load_model(asr_run / "model")
    assert isinstance(asr, SpikingASR)
    enc = asr.spikes_file(speech_file)
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
    enc = asr.spikes_file(speech_file)
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
    mono = asr.spikes_file(speech_file).feats
    assert torch.allclose(asr.spikes_file(tmp_path / "stereo.wav").feats, mono, atol=1e-4)
    low = asr.spikes_file(tmp_path / "8k.wav")
    assert abs(low.feats.shape[1] - mono.shape[1]) <= 1  # same duration at 16 kHz
    assert float(low.duration_s[0]) == pytest.approx(float(len(wave)) / rate, abs=1e-3)


def test_clear_errors(asr_run, kws_run, tmp_path):
    with pytest.raises(InferenceError, match="model folder not found: .*nowhere$"):
        SpikingASR.from_hparams(source=tmp_path / "nowhere")
    with pytest.raises(InferenceError, match="not found: speechbrain/asr-x; sparse loads local "
                                             "model folders only, not HuggingFace"):
        SpikingASR.from_hparams(source="speechbrain/asr-x")
    with pytest.raises(InferenceError, match="^https://example.com/m is a URL"):
        SpikingASR.from_hparams(source="https://example.com/m")
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
    with pytest.raises(InferenceError, match="^https://example.com/a.wav is a URL: sparse reads "
                                             "local audio files only"):
        asr.transcribe_file("https://example.com/a.wav")
    with pytest.raises(InferenceError, match=r"expected mono waveforms \(batch, samples\)"):
        asr.transcribe_batch(torch.zeros(1, 2, 16000))
    with pytest.raises(InferenceError, match="override key|not found|Override 'nope'"):
        load_model(asr_run / "model", overrides={"nope": 1})
    assert isinstance(load_model(asr_run / "model", overrides={"nope": 1},
                                 overrides_must_match=False), SpikingASR)
    with pytest.raises(InferenceError, match="unknown backend 'fast'"):
        load_model(asr_run / "model", overrides={"backend": "fast"})
    with pytest.raises(InferenceError, match="device 'cuda:7' is not available on this machine"):
        load_model(asr_run / "model", run_opts={"device": "cuda:7"})
    with pytest.raises(InferenceError, match="device 'gpu' is not a torch device"):
        load_model(asr_run / "model", run_opts={"device": "gpu"})


def test_an_incomplete_folder_is_refused_naming_every_missing_file(kws_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(kws_run / "model", broken)
    (broken / "normalize.ckpt").unlink()
    (broken / "label_encoder.txt").unlink()
    with pytest.raises(InferenceError, match=r"broken is incomplete: it lacks normalize.ckpt, "
                                             r"label_encoder.txt \(a kws model needs "
                                             r"hyperparams.yaml, model.ckpt, normalize.ckpt, "
                                             r"label_encoder.txt; copy the whole"):
        load_model(broken)


def test_labels_must_match_the_outputs(kws_run, tmp_path):
    from speechbrain.dataio.encoder import CategoricalEncoder

    folder = tmp_path / "nine"
    shutil.copytree(kws_run / "model", folder)
    labels = CategoricalEncoder()
    labels.update_from_iterable([str(i) for i in range(9)])
    labels.save(folder / "label_encoder.txt")
    with pytest.raises(InferenceError, match=r"nine/label_encoder.txt holds 9 labels but the "
                                             r"model has 10 outputs"):
        SpikingKWS.from_hparams(folder)
    (folder / "label_encoder.txt").write_text("'a' => \n")
    with pytest.raises(InferenceError, match="cannot read the labels .*label_encoder.txt"):
        SpikingKWS.from_hparams(folder)


def test_speechbrain_loading_keywords(kws_run, digit_file, tmp_path):
    from speechbrain.utils.fetching import FetchConfig, LocalStrategy

    source = kws_run / "model"
    linked = tmp_path / "linked"
    kws = SpikingKWS.from_hparams(source, savedir=linked, huggingface_cache_dir=tmp_path / "hf",
                                  fetch_config=FetchConfig())
    assert (linked / "model.ckpt").is_symlink() and kws.hparams.model_folder == linked
    copied = tmp_path / "copied"
    assert SpikingKWS.from_hparams(source, savedir=copied, download_only=True,
                                   local_strategy=LocalStrategy.COPY) is None
    assert (copied / "model.ckpt").is_file() and not (copied / "model.ckpt").is_symlink()
    assert {p.name for p in copied.iterdir()} == {p.name for p in source.iterdir()}
    assert not (tmp_path / "hf").exists()  # nothing is fetched or cached
    assert kws.label_file(digit_file) == load_model(copied).label_file(digit_file)
    out_prob = kws.classify_file(digit_file, savedir=tmp_path / "audio")[0]  # load_audio's
    assert torch.equal(out_prob, kws.classify_file(digit_file)[0])
    with pytest.raises(TypeError, match="unexpected keyword argument 'revision'"):
        SpikingKWS.from_hparams(source, revision="main")


def test_short_audio_warns_with_the_minimum_and_too_short_is_refused(asr_run, speech_file,
                                                                      tmp_path):
    asr = load_model(asr_run / "model")
    assert asr.min_duration_s == pytest.approx(0.04)  # 4 steps of 10 ms: one 25 Hz CTC frame
    wave, rate = sf.read(str(speech_file), dtype="float32")
    sf.write(tmp_path / "short.wav", wave[: int(0.02 * rate)], rate)
    with pytest.warns(ShortAudioWarning, match=r"short.wav: 0.020 s of audio is shorter than "
                                                r"this model's minimum of 0.040 s \(one output "
                                                r"frame of 4 steps of 10 ms\)"):
        asr.transcribe_file(tmp_path / "short.wav")
    with pytest.warns(ShortAudioWarning, match="example 1 of the batch: 0.020 s"):
        full = torch.from_numpy(wave[:16000])
        asr.transcribe_batch(torch.stack([full, full]), torch.tensor([1.0, 0.02]))
    asr.mods.model.pool_size = 40  # one output frame = 400 ms: 3 frames + 8 give none
    with pytest.warns(ShortAudioWarning), pytest.raises(
            InferenceError, match=r"^3 feature frames of 10 ms are too short for this model: it "
                                  r"needs at least 0.400 s of audio \(one output frame"):
        asr.transcribe_file(tmp_path / "short.wav")


def test_keyword_spotting_speechbrain_tuple_and_labels(kws_run, digit_file):
    kws = SpikingKWS.from_hparams(source=kws_run / "model")
    out_prob, score, index, text_lab = kws.classify_file(digit_file)  # EncoderClassifier's
    labels = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert out_prob.shape == (1, 10) and score.shape == index.shape == (1,)
    assert float(torch.logsumexp(out_prob, dim=-1)) == pytest.approx(0.0, abs=1e-5)  # log-post.
    assert float(score[0]) == float(out_prob.max()) and text_lab == [labels[int(index[0])]]
    result = kws.label_file(digit_file)
    assert isinstance(result, Classification) and result.label == text_lab[0]
    assert list(result.posteriors) == labels
    assert result.probability == pytest.approx(float(score[0].exp()), rel=1e-5)
    assert sum(result.posteriors.values()) == pytest.approx(1.0, abs=1e-5)
    wave = kws.load_audio(digit_file)
    batch = kws.classify_batch(torch.stack([wave, wave]))
    assert batch[1].shape == (2,) and batch[3] == text_lab * 2
    assert torch.allclose(batch[0][0], out_prob[0], atol=1e-6)
    forward = kws(wave[None])  # forward is classify_batch, as EncoderClassifier's
    assert torch.equal(forward[0], kws.classify_batch(wave[None])[0])
    assert kws.label_batch(wave[None]) == [result]


def test_keyword_clips_are_padded_or_cut_alike_in_files_and_batches(kws_run, digit_file,
                                                                    tmp_path):
    kws = SpikingKWS.from_hparams(source=kws_run / "model")
    assert int(kws.hparams.clip_samples) == 16000 and kws.info()["clip_s"] == 1.0
    wave = kws.load_audio(digit_file)
    assert wave.shape == (16000,)  # the file's own length: padding happens later
    half, long = wave[:8000], torch.cat([wave, wave[:4000]])  # 0.5 s and 1.25 s
    sf.write(tmp_path / "half.wav", half.numpy(), 16000)
    sf.write(tmp_path / "long.wav", long.numpy(), 16000)
    from_file = kws.classify_file(tmp_path / "half.wav")[0]
    assert torch.allclose(kws.classify_batch(half[None])[0], from_file, atol=1e-6)
    padded = torch.zeros(2, 20000)
    padded[0, :8000], padded[1] = half, long
    both = kws.classify_batch(padded, torch.tensor([0.4, 1.0]))[0]  # relative lengths
    assert torch.allclose(both[0], from_file[0], atol=1e-6)
    assert torch.allclose(both[1], kws.classify_file(tmp_path / "long.wav")[0][0], atol=1e-6)
    assert torch.allclose(both[1], kws.classify_file(digit_file)[0][0], atol=1e-6)  # cut to 1 s
    enc = kws.spikes_file(tmp_path / "half.wav")
    assert enc.feats.shape[1] == 101 and float(enc.duration_s[0]) == 1.0  # 1 s at 10 ms


def test_efficiency_file_per_second_of_audio(kws_run, digit_file):
    kws = load_model(kws_run / "model")
    eff = kws.efficiency_file(digit_file)
    assert isinstance(eff, Efficiency) and eff.duration_s == pytest.approx(1.0)
    names = [r.name for r in eff.rows]
    assert names == ["nerve", "cortex1", "cortex2", "readout", "conv"]
    enc = kws.spikes_file(digit_file)
    assert eff.rows[0].spikes == float(enc.spikes["nerve"].sum())
    info = kws.info()
    assert info["populations"] == {"nerve": 56, "cortex1": 32, "cortex2": 32}  # 20 - 7 + 1 bins x 4
    assert info["labels"] == 10 and info["kind"] == "kws"
