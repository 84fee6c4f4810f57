"""Helpers of the analysis Brain on a real (tiny) encoder, and the benchmark's small run."""

import numpy as np
import pytest
import torch

import sparse
from sparse.analysis.pipeline import settings
from sparse.analysis.recording import populations_of
from sparse.bench.pac import main as bench_main
from sparse.data.noise import gaussian_noise_like, spectrum_matched_noise


def tiny_encoder(**kwargs) -> torch.nn.Module:
    args = dict(auditory_channels=[2], cortex_layer_sizes=[8, 6], cortex_sfa_portions=[0.5, 0.0],
                cortex_rnn_portions=[0.5, 0.5], cortex_feedforward_portions=[1.0, 1.0],
                phoneme_features=4, phoneme_num_layers=1, dt=2.0)
    return sparse.ASREncoder(**{**args, **kwargs})


def test_populations_split_layers_by_sfa_mask():
    encoder = tiny_encoder()
    pops = populations_of(encoder)  # dt from the model: 2 ms
    assert pops.trains == ("nerve", "cortex1", "cortex2")
    assert list(pops.groups) == ["nerve", "cortex1", "cortex1 LIF", "cortex1 AdLIF", "cortex2"]
    assert pops.names == ["waveform", *pops.groups, "all"] and pops.fs == 500.0
    train, lif = pops.groups["cortex1 LIF"]
    _, adlif = pops.groups["cortex1 AdLIF"]
    mask = encoder.cortex.layers[0].neurons.sfa_mask.numpy()
    assert train == "cortex1" and not mask[lif].any() and mask[adlif].all()
    assert sorted(np.concatenate([lif, adlif]).tolist()) == list(range(8))


def test_populations_take_the_encoders_lag():
    assert populations_of(tiny_encoder(time_padding="upstream")).lag == 4  # T + 8 steps
    assert populations_of(tiny_encoder(time_padding="same")).lag == 0


def test_populations_of_every_spiking_model_come_from_the_model():
    cortex = sparse.MultilayeredSpiking(6, [4, 3], [0.5, 1.0], [0.0, 0.0], [1.0, 1.0], dt=5.0)
    pops = populations_of(cortex)
    assert (pops.trains, pops.dt_ms, pops.lag) == (("layer1", "layer2"), 5.0, 0)
    assert list(pops.groups) == ["layer1", "layer1 LIF", "layer1 AdLIF", "layer2"]
    snn = sparse.SNN((1, 1, 6), [5, 4, 3], "adLIF", dt=14.0)  # readout: not a spike train
    pops = populations_of(snn)
    assert (pops.trains, pops.dt_ms, list(pops.groups)) == (("layer1", "layer2"), 14.0,
                                                            ["layer1", "layer2"])


def test_noise_has_the_utterance_rms_and_stops_at_its_length():
    wavs = torch.zeros(2, 16000)
    wavs[0] = 0.5 * torch.randn(16000)
    wavs[1, :8000] = 2.0 * torch.randn(8000)
    noise = gaussian_noise_like(wavs, torch.tensor([1.0, 0.5]), torch.Generator().manual_seed(0))
    assert abs(noise[0].std().item() - 0.5) < 0.02
    assert abs(noise[1, :8000].std().item() - 2.0) < 0.1 and noise[1, 8000:].abs().max() == 0


def test_spectrum_matched_noise_keeps_length_spectrum_and_rms_not_the_waveform():
    t = torch.arange(16000) / 16000.0
    wavs = torch.zeros(2, 16000)
    envelope = 1.0 + torch.sin(2 * torch.pi * 4.0 * t)  # a 4 Hz "syllable" envelope
    wavs[0] = envelope * torch.randn(16000, generator=torch.Generator().manual_seed(1))
    wavs[1, :9001] = 0.3 * torch.randn(9001)
    lens = torch.tensor([1.0, 9001 / 16000])
    noise = spectrum_matched_noise(wavs, lens, torch.Generator().manual_seed(0))
    again = spectrum_matched_noise(wavs, lens, torch.Generator().manual_seed(0))
    assert torch.equal(noise, again) and noise.shape == wavs.shape
    assert noise[1, 9001:].abs().max() == 0
    for row, n in ((0, 16000), (1, 9001)):
        spec_in = torch.fft.rfft(wavs[row, :n].double()).abs()
        spec_out = torch.fft.rfft(noise[row, :n].double()).abs()
        assert torch.allclose(spec_in, spec_out, atol=1e-3 * spec_in.max().item())
        assert abs(noise[row, :n].pow(2).mean() / wavs[row, :n].pow(2).mean() - 1) < 1e-4
    # the temporal envelope is gone: its 4 Hz component in the squared signal collapses
    power = lambda x: torch.fft.rfft(x**2 - (x**2).mean()).abs()[4].item()  # noqa: E731
    assert power(noise[0]) < 0.1 * power(wavs[0])


def test_unknown_noise_control_is_a_clear_error():
    with pytest.raises(ValueError, match="noise_control must be one of"):
        settings({"noise_control": "waveform"})


def test_benchmark_small_run_agrees_with_plain_loop():
    out = bench_main(["--utterances", "2", "--surrogates", "50", "--check", "2", "--no-progress"])
    assert out["max_stat_diff"] < 1e-9 and out["tests"] == 2 * 16 * 4 * 2


def test_analysis_yaml_keys_are_exactly_the_ones_used():
    from pathlib import Path

    import yaml

    from sparse.analysis.pipeline import DEFAULTS

    path = Path(__file__).resolve().parents[2] / "hparams" / "timit_analysis.yaml"
    keys = set(yaml.safe_load(path.read_text()))
    recipe_keys = {"train_hparams", "train_command", "split"}  # read by run_analysis.py
    assert keys == set(DEFAULTS) | recipe_keys
