"""Encoders: shapes for several dt/T, lengths, errors, YAML, a SpeechBrain Brain, determinism."""

import math

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from sparse import ASREncoder, KWSEncoder, MultilayeredSpiking

SMALL = dict(num_mel_bins=20, auditory_channels=[2], auditory_kernel_size=(7, 5),
             cortex_layer_sizes=[12, 10], cortex_feedforward_portions=[1, 0.5],
             cortex_sfa_portions=[0.5, 0.5], cortex_rnn_portions=[0.5, 0.5])


@pytest.mark.parametrize("dt", [1.0, 2.0, 10.0])
@pytest.mark.parametrize("steps", [1, 23, 120])
@pytest.mark.parametrize("padding", ["upstream", "same"])
def test_asr_encoder_shapes(dt, steps, padding):
    model = ASREncoder(**SMALL, phoneme_features=9, phoneme_ctc_rate_hz=25, dt=dt,
                       time_padding=padding)
    t_spk = steps + 8 if padding == "upstream" else steps
    assert model.spike_length(steps) == t_spk
    assert model.pool_size == int(1000 / dt / 25)
    if t_spk < model.pool_size:  # not one CTC frame: a clear error, not an empty output
        assert model.output_length(steps) == 0
        need = model.pool_size - (t_spk - steps)
        with pytest.raises(ValueError, match=f"input of {steps} frames is shorter than one "
                                             f"output frame.* at least {need} frames"):
            model(torch.rand(2, steps, 20))
        model(torch.rand(2, need, 20))  # the length it names is enough
        return
    out, spikes = model(torch.rand(2, steps, 20), return_spikes=True)
    assert out.shape == (2, t_spk // model.pool_size, 9) == (2, model.output_length(steps), 9)
    assert [tuple(s.shape) for s in spikes] == [(2, t_spk, 32), (2, t_spk, 12), (2, t_spk, 10)]
    assert all(torch.all((s == 0) | (s == 1)) for s in spikes)


def test_two_conv_stages_and_frequency_stride():
    model = ASREncoder(**dict(SMALL, auditory_channels=[2, 3]), auditory_frequency_stride=[2, 1],
                       dt=2.0)
    _, spikes = model(torch.rand(1, 30, 20), return_spikes=True)
    # F1 = (20 - 5)//2 + 1 = 8, F2 = 8 - 5 + 1 = 4 -> 3 * 4 fibres; +8 frames per conv
    assert spikes[0].shape == (1, 46, 12)
    with pytest.raises(ValueError, match="1 or 2 entries"):
        ASREncoder(**dict(SMALL, auditory_channels=[2, 2, 2]))


def test_paper_configuration_parameter_count():
    model = ASREncoder(dt=2.0)
    assert sum(p.numel() for p in model.parameters()) == 2_460_896  # upstream's count
    assert model.nerve.num_fibres == 1184 and model.pool_size == 20
    assert model.spike_length(1501) == 1509 and model.output_length(1501) == 75


def test_kws_encoder_readout():
    model = KWSEncoder(**SMALL, readout_features=7, readout_reduction="mean", dt=10.0).eval()
    out, spikes = model(torch.rand(3, 40, 20), return_spikes=True)
    assert out.shape == (3, 1, 7)
    assert torch.allclose(out.sum(-1), torch.ones(3, 1))
    assert len(spikes) == 3
    with torch.no_grad():  # the encoder's projection reaches the readout and every neuron layer
        model.readout.alpha.fill_(2.0)
        model.cortex.layers[1].neurons.tau_u.fill_(-1.0)
        model.nerve.neurons.tau_w.fill_(1e4)
    model.project_parameters_()
    assert model.readout.alpha.max() <= math.exp(-1 / 25)
    assert model.cortex.layers[1].neurons.tau_u.min() == 3.0
    assert model.nerve.neurons.tau_w.max() == 350.0


def test_fibre_order_is_channel_fastest():
    model = ASREncoder(**SMALL, dt=2.0).eval()
    feats = torch.rand(1, 12, 20)
    current = model.nerve.currents(feats)  # (1, T', F'*C)
    x = feats.unsqueeze(1)
    x = model.nerve.convs[0](torch.nn.functional.pad(x, (0, 0, *model.nerve._time_pads())))
    x = model.nerve.activation(model.nerve.norms[0](x.permute(0, 2, 3, 1)))  # (B, T', F', C)
    f, c = 3, 1
    assert torch.allclose(current[0, :, f * 2 + c], x[0, :, f, c])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(cortex_sfa_portions=[0.5]), "cortex_sfa_portions|sfa_portions has 1 entries"),
        (dict(cortex_rnn_portions=[0.5, 1.5]), "rnn_portion must be in"),
        (dict(cortex_feedforward_portions=[1.0, -1.0]), "ff_portion must be in"),
        (dict(dt=0), "dt must be > 0"),
        (dict(dropout=1.5), "dropout must be in"),
        (dict(time_padding="valid"), "time_padding"),
        (dict(phoneme_ctc_rate_hz=5000), "faster than the spike rate"),
    ],
)
def test_encoder_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ASREncoder(**{**SMALL, **kwargs})


def test_encoder_input_errors():
    model = ASREncoder(**SMALL)
    with pytest.raises(ValueError, match=r"\(batch, time, features\)"):
        model(torch.rand(10, 20))
    with pytest.raises(ValueError, match="expected 20 mel bins"):
        model(torch.rand(1, 10, 40))
    with pytest.raises(ValueError, match="layer_sizes"):
        MultilayeredSpiking(4, [])


def _nan_at(shape: tuple, t: int) -> torch.Tensor:
    x = torch.rand(shape)
    x[-1, t, 0] = float("nan")
    return x


@pytest.mark.parametrize("name", ["ASREncoder", "KWSEncoder", "MultilayeredSpiking"])
def test_integer_and_nan_inputs_are_rejected_by_name(name):
    if name == "MultilayeredSpiking":
        model = MultilayeredSpiking(20, [6], [0.5], [0.5], [1.0])
    else:
        model = {"ASREncoder": ASREncoder, "KWSEncoder": KWSEncoder}[name](**SMALL, dt=2.0)
    for dtype in (torch.long, torch.bool):  # spike counts / masks must be converted first
        with pytest.raises(TypeError, match=f"{name} expects a floating-point tensor, got "
                                            f"{dtype}; convert it with .float()"):
            model(torch.ones(2, 40, 20, dtype=dtype))
    with pytest.raises(ValueError, match=rf"{name} got NaN in its input of shape \(2, 40, 20\)"):
        model(_nan_at((2, 40, 20), t=39))  # NaN would otherwise silently give no spike
    model(torch.rand(2, 40, 20))  # the same shape without NaN runs


def test_unknown_keyword_arguments_raise_naming_the_key():
    with pytest.raises(TypeError, match=r"ASREncoder got unknown keyword argument\(s\) "
                                        r"\['cortex_layer_size'\]; did you mean "
                                        r"'cortex_layer_sizes'\?"):
        ASREncoder(**SMALL, cortex_layer_size=[8])  # a YAML typo no longer vanishes
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['colour'\]$"):
        ASREncoder(**SMALL, colour="blue")
    with pytest.raises(TypeError, match=r"KWSEncoder got unknown keyword argument\(s\) "
                                        r"\['phoneme_features'\]"):
        KWSEncoder(**SMALL, phoneme_features=8)  # an ASR-only key is unknown to KWS
    with pytest.raises(TypeError, match=r"KWSEncoder got unknown keyword argument\(s\) "
                                        r"\['readout_feature'\]; did you mean "
                                        r"'readout_features'\?"):
        KWSEncoder(**SMALL, readout_feature=8)


@pytest.mark.parametrize("padding, channels, lag", [
    ("upstream", [2], 4), ("same", [2], 0), ("upstream", [2, 2], 8), ("same", [2, 2], 0)])
def test_spike_lag_is_where_an_input_frame_reaches_the_fibres(padding, channels, lag):
    model = ASREncoder(**dict(SMALL, auditory_channels=channels), time_padding=padding,
                       auditory_frequency_stride=[1] * len(channels), dt=2.0).eval()
    with torch.no_grad():  # every conv passes the kernel's centre frame through
        for conv in model.nerve.convs:
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[:, :, 3, 2] = 1.0
    feats = torch.zeros(1, 30, 20)
    feats[0, 10, 12] = 1.0  # one impulse at frame 10
    currents = model.nerve.currents(feats)[0]  # (T', fibres): non-zero where the frame arrives
    assert torch.nonzero(currents.abs().sum(-1)).flatten().tolist() == [10 + lag]
    assert model.nerve.lag == model.spike_lag == lag


def test_populations_name_every_spike_train_in_order():
    model = KWSEncoder(**SMALL, readout_features=3, dt=2.0)
    pops = model.populations()
    assert list(pops) == model.population_names == ["nerve", "cortex1", "cortex2"]
    assert pops["nerve"] is model.nerve.neurons
    assert [m.num_neurons for m in pops.values()] == [32, 12, 10]
    spikes = model(torch.rand(1, 20, 20), return_spikes=True)[1]
    assert [s.shape[-1] for s in spikes] == [32, 12, 10]


def test_seeded_construction_and_training_forward_are_deterministic():
    outs = []
    for _ in range(2):
        torch.manual_seed(1234)
        model = ASREncoder(**SMALL, dt=2.0)
        feats = torch.rand(2, 40, 20)
        outs.append(model(feats))  # train mode: dropout draws from the same seed
    assert torch.equal(*outs)


YAML = """
seed: 3
__set_seed: !apply:torch.manual_seed [!ref <seed>]
dt: 2.0
model: !new:sparse.ASREncoder
    num_mel_bins: 20
    auditory_channels: [2]
    cortex_layer_sizes: [8, 8]
    cortex_feedforward_portions: [1.0, 1.0]
    cortex_sfa_portions: [0.5, 0.5]
    cortex_rnn_portions: [0.5, 0.5]
    activation: !name:torch.nn.LeakyReLU
    phoneme_features: 6
    dt: !ref <dt>
kws: !new:sparse.KWSEncoder
    num_mel_bins: 20
    auditory_channels: [2]
    cortex_layer_sizes: [8]
    cortex_feedforward_portions: [1.0]
    cortex_sfa_portions: [0.5]
    cortex_rnn_portions: [0.5]
    readout_features: 3
    dt: !ref <dt>
"""


def test_yaml_instantiation():
    hp = load_hyperpyyaml(YAML)
    assert isinstance(hp["model"], ASREncoder) and isinstance(hp["kws"], KWSEncoder)
    assert hp["model"](torch.rand(1, 50, 20)).shape == (1, 2, 6)  # a drop-in encoder


def test_inside_speechbrain_brain(tmp_path):
    import speechbrain as sb

    class Toy(sb.Brain):
        def compute_forward(self, batch, stage):
            return self.modules.model(batch.to(self.device))

        def compute_objectives(self, predictions, batch, stage):
            return predictions.pow(2).mean()

        def on_fit_batch_end(self, batch, outputs, loss, should_step):
            self.modules.model.project_parameters_()

    model = ASREncoder(**SMALL, phoneme_features=4, dt=2.0)
    brain = Toy(modules={"model": model}, opt_class=lambda p: torch.optim.Adam(p, 1e-2),
                run_opts={"device": "cpu", "noprogressbar": True})
    data = [torch.rand(2, 60, 20) for _ in range(3)]
    before = model.cortex.layers[0].W.weight.detach().clone()
    with torch.no_grad():  # out of range: only the projection in on_fit_batch_end brings it back
        model.cortex.layers[0].neurons.tau_u[0] = 100.0
    brain.fit(range(1), data, train_loader_kwargs={"batch_size": None})
    assert not torch.equal(before, model.cortex.layers[0].W.weight)
    tau = model.cortex.layers[0].neurons.tau_u
    assert tau.min() >= 3 and tau.max() <= 25  # tau_u[0] would stay near 100 without it


@pytest.mark.parametrize("name", ["ASREncoder", "KWSEncoder"])
def test_an_encoder_returns_its_output_unless_spikes_are_asked(name):
    torch.manual_seed(0)
    model = (ASREncoder(**SMALL, phoneme_features=4, dt=2.0) if name == "ASREncoder" else
             KWSEncoder(**SMALL, readout_features=4, dt=2.0)).eval()
    feats = torch.rand(2, 40, 20)
    out = model(feats)
    assert isinstance(out, torch.Tensor) and out.shape == ((2, 2, 4) if name == "ASREncoder"
                                                            else (2, 1, 4))
    again, spikes = model(feats, return_spikes=True)
    assert torch.equal(again, out) and [s.shape[-1] for s in spikes] == [32, 12, 10]
    model.return_spikes = True  # the constructor's default, overridable per call
    assert isinstance(model(feats), tuple) and torch.equal(model(feats, return_spikes=False), out)
    wrapped = torch.nn.DataParallel(model)  # the keyword passes through wrappers
    assert torch.equal(wrapped(feats, return_spikes=False), out)
    with pytest.raises(TypeError, match=rf"{name} got unknown keyword argument\(s\) "
                                        r"\['return_spike'\]; did you mean 'return_spikes'"):
        type(model)(**SMALL, return_spike=True)


def test_the_upstream_import_path_keeps_upstreams_tuple():
    from sparse.encoder_asr import ASREncoder as UpstreamASREncoder

    model = UpstreamASREncoder(**SMALL, phoneme_features=4, dt=2.0).eval()
    out, spikes = model(torch.rand(1, 40, 20))
    assert isinstance(model, ASREncoder) and out.shape == (1, 2, 4) and len(spikes) == 3
    plain = ASREncoder(**SMALL, phoneme_features=4, dt=2.0)
    assert plain.load_state_dict(model.state_dict()).missing_keys == []


def test_the_upstream_kws_import_path_keeps_upstreams_tuple():
    from sparse.encoder_kws import KWSEncoder as UpstreamKWSEncoder

    model = UpstreamKWSEncoder(**SMALL, readout_features=3, dt=2.0).eval()
    out, spikes = model(torch.rand(1, 40, 20))
    assert isinstance(model, KWSEncoder) and out.shape == (1, 1, 3) and len(spikes) == 3
    plain = KWSEncoder(**SMALL, readout_features=3, dt=2.0)
    assert plain.load_state_dict(model.state_dict()).missing_keys == []
