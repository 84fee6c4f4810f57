"""SpArch model folders: audio models (HD) from files, spike models (SHD) from spike trains."""

from __future__ import annotations

import pytest
import torch
import yaml

from sparse.cli import main
from sparse.inference import InferenceError, SpArchClassifier, load_model


def test_audio_model_classifies_files_at_any_rate(sparch_run):
    out = sparch_run("HD", "--model_type=RadLIF", "--bidirectional=True")
    meta = yaml.safe_load((out / "model" / "hyperparams.yaml").read_text().split("\nmodel:")[0])
    assert (meta["features"], meta["resampler"], meta["dt_ms"]) == ("kaldi_fbank", "sinc", 10.0)
    model = load_model(out / "model")
    assert isinstance(model, SpArchClassifier)
    clip = sorted((out / "fixture_data" / "audio").glob("*.flac"))[0]  # 48 kHz
    result = model.label_file(clip)
    assert result.label in result.posteriors and len(result.posteriors) == 20
    out_prob, _, index, text_lab = model.classify_file(clip)
    assert out_prob.shape == (1, 20) and text_lab == [result.label] and int(index) < 20
    enc = model.spikes_file(clip)
    assert list(enc.spikes) == ["layer1", "layer2"]  # nb_layers 3 counts the readout
    assert [s.shape[2] for s in enc.spikes.values()] == [16, 16]  # 2 directions x 8
    eff = model.efficiency_of(enc)
    first = eff.rows[0]
    assert first.name == "input" and first.synaptic_ops == 0 and first.snn_macs > 0  # real input
    assert "efficiency.txt" in {p.name for p in out.iterdir()}


def test_spike_model_takes_spike_trains_not_audio(sparch_run, capsys):
    out = sparch_run("SHD", "--model_type=LIF")
    model = load_model(out / "model")
    with pytest.raises(InferenceError, match="takes spike trains \\(700 channels\\)"):
        model.classify_file(out / "model" / "README.md")
    spikes = (torch.rand(2, 25, 700) < 0.01).float()
    out_prob, _, _, labels = model.classify_features(spikes)
    assert out_prob.shape == (2, 20) and len(labels) == 2
    assert [c.label for c in model.label_features(spikes)] == labels
    eff = model.efficiency_of(model.spikes_features(spikes))
    assert eff.rows[0].spikes == float(spikes.sum()) and eff.rows[0].snn_macs == 0
    assert main(["classify", str(out / "model"), str(out / "model" / "README.md")]) == 2
    assert capsys.readouterr().err.endswith("classify: error: this model takes spike trains "
                                            "(700 channels), not audio files; use it from "
                                            "Python (classify_features, spikes_features)\n")


def test_non_spiking_baseline_classifies_but_has_no_efficiency(sparch_run):
    out = sparch_run("HD", "--model_type=GRU")
    model = load_model(out / "model")
    clip = sorted((out / "fixture_data" / "audio").glob("*.flac"))[0]
    assert model.label_file(clip).label in [str(i) for i in range(20)]
    assert not (out / "efficiency.txt").exists()
    with pytest.raises(InferenceError, match="no spiking neurons"):
        model.efficiency_file(clip)


OLD_FOLDER_YAML = """\
# sparse sparch model, inference description (written by sparse.inference.export).
sparse_model: 1
kind: sparch
trained_on: SpeechCommands (tiny generated fixture)
features: kaldi_fbank
sample_rate: 16000
resampler: sinc
clip_samples:
n_mels: 6
dt_ms: 10.0
input_description: 16000 Hz mono audio -> 6 Kaldi log-mel bands, 10 ms frames
backend: auto
model: !apply:sparse.models.training.build_model
  model_type: RadLIF
  nb_inputs: 6
  nb_outputs: 3
  nb_layers: 3
  nb_hiddens: 8
  backend: !ref <backend>
modules:
  model: !ref <model>
"""


def test_a_folder_naming_the_removed_sparse_models_training_still_loads(tmp_path):
    """Folders exported before #16 name ``sparse.models.training.build_model`` (removed)."""
    from speechbrain.dataio.encoder import CategoricalEncoder

    from sparse.inference.folder import save_module
    from sparse.models import build_model

    torch.manual_seed(0)
    trained = build_model("RadLIF", 6, 3, nb_hiddens=8).eval()
    save_module(trained, tmp_path / "model.ckpt")
    (tmp_path / "hyperparams.yaml").write_text(OLD_FOLDER_YAML)
    labels = CategoricalEncoder()
    labels.update_from_iterable(["no", "yes", "up"])
    labels.save(tmp_path / "label_encoder.txt")
    model = load_model(tmp_path)
    assert isinstance(model, SpArchClassifier)
    loaded = model.mods.model
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                  trained.state_dict().values(), strict=True))
    feats = torch.rand(2, 20, 6)
    out_prob, _, _, names = model.classify_features(feats)
    assert torch.allclose(out_prob.exp(), trained(feats)[0], atol=1e-6)
    assert set(names) <= {"no", "yes", "up"}
