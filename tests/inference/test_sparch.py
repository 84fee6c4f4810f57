"""SpArch model folders: audio models (HD) from files, spike models (SHD) from spike trains."""

from __future__ import annotations

import pytest
import torch
import yaml

from sparse.inference import InferenceError, SpArchClassifier, load_model


def test_audio_model_classifies_files_at_any_rate(sparch_run):
    out = sparch_run("HD", "--model_type=RadLIF", "--bidirectional=True")
    meta = yaml.safe_load((out / "model" / "hyperparams.yaml").read_text().split("\nmodel:")[0])
    assert (meta["features"], meta["resampler"], meta["dt_ms"]) == ("kaldi_fbank", "sinc", 10.0)
    model = load_model(out / "model")
    assert isinstance(model, SpArchClassifier)
    clip = sorted((out / "fixture_data" / "audio").glob("*.flac"))[0]  # 48 kHz
    result = model.classify_file(clip)
    assert result.label in result.posteriors and len(result.posteriors) == 20
    enc = model.encode_file(clip)
    assert list(enc.spikes) == ["layer1", "layer2"]  # nb_layers 3 counts the readout
    assert [s.shape[2] for s in enc.spikes.values()] == [16, 16]  # 2 directions x 8
    eff = model.efficiency_of(enc)
    first = eff.rows[0]
    assert first.name == "input" and first.synaptic_ops == 0 and first.snn_macs > 0  # real input
    assert "efficiency.txt" in {p.name for p in out.iterdir()}


def test_spike_model_takes_spike_trains_not_audio(sparch_run):
    out = sparch_run("SHD", "--model_type=LIF")
    model = load_model(out / "model")
    with pytest.raises(InferenceError, match="takes spike trains \\(700 channels\\)"):
        model.classify_file(out / "model" / "README.md")
    spikes = (torch.rand(2, 25, 700) < 0.01).float()
    posteriors, _, _, labels = model.classify_features(spikes)
    assert posteriors.shape == (2, 20) and len(labels) == 2
    eff = model.efficiency_of(model.encode_features(spikes))
    assert eff.rows[0].spikes == float(spikes.sum()) and eff.rows[0].snn_macs == 0


def test_non_spiking_baseline_classifies_but_has_no_efficiency(sparch_run):
    out = sparch_run("HD", "--model_type=GRU")
    model = load_model(out / "model")
    clip = sorted((out / "fixture_data" / "audio").glob("*.flac"))[0]
    assert model.classify_file(clip).label in [str(i) for i in range(20)]
    assert not (out / "efficiency.txt").exists()
    with pytest.raises(InferenceError, match="no spiking neurons"):
        model.efficiency_file(clip)
