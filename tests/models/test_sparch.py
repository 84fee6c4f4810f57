"""SpArch spiking layers and SNN: hand-computed steps, recurrence, bidirectional, readout."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sparse.models.sparch import (
    A_LIM,
    ALPHA_LIM,
    SNN,
    AdLIFLayer,
    LIFLayer,
    RadLIFLayer,
    RLIFLayer,
    adLIFLayer,
)
from sparse.neurons import engine


def identity_layer(cls, n: int, **kw):
    """A layer whose current is its input (W = identity, no normalisation)."""
    layer = cls(n, n, normalization="none", **kw)
    with torch.no_grad():
        layer.W.weight.copy_(torch.eye(n))
    return layer


def reference(current, alpha, beta=0.0, a=0.0, b=0.0, v=None, theta=1.0):
    """Plain-float SpArch recursion (Bittar & Garner, 2022) of (T, N) currents; returns (u, s)."""
    n = len(current[0])
    u, w, s = [0.0] * n, [0.0] * n, [0.0] * n
    us, ss = [], []
    for i_t in current:
        rec = [sum(s[i] * v[i][j] for i in range(n) if i != j) if v else 0.0 for j in range(n)]
        w = [beta[j] * w[j] + a[j] * u[j] + b[j] * s[j] if a else 0.0 for j in range(n)]
        u = [alpha[j] * (u[j] - s[j]) + (1 - alpha[j]) * (i_t[j] + rec[j] - w[j]) for j in range(n)]
        s = [1.0 if u[j] > theta else 0.0 for j in range(n)]
        us.append(u), ss.append(s)
    return us, ss


def set_params(layer, **values):
    with torch.no_grad():
        for name, value in values.items():
            getattr(layer, name).copy_(torch.as_tensor(value))


def traces(layer, x):
    current = layer.W(x)
    return engine.adlif(current, layer.neuron_parameters(), layer.recurrent_matrix(),
                        variant="sparch", return_traces=True)


def test_adlif_hand_computed_steps():
    layer = identity_layer(AdLIFLayer, 1)
    set_params(layer, alpha=[0.9], beta=[0.97], a=[0.5], b=[1.0])
    x = torch.full((1, 3, 1), 15.0)
    out = traces(layer, x)
    # t1: w=0, u=0.1*15=1.5 (spike); t2: w=0.5*1.5+1=1.75, u=0.9*0.5+0.1*13.25=1.775 (spike)
    # t3: w=0.97*1.75+0.5*1.775+1=3.585, u=0.9*0.775+0.1*11.415=1.839
    assert out.u[0, :, 0].tolist() == pytest.approx([1.5, 1.775, 1.839], abs=1e-5)
    assert out.w[0, :, 0].tolist() == pytest.approx([0.0, 1.75, 3.585], abs=1e-5)
    assert layer.spikes(x)[0, :, 0].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("cls", [LIFLayer, RLIFLayer, AdLIFLayer, RadLIFLayer])
def test_each_type_matches_reference(cls):
    torch.manual_seed(1)
    n, steps = 3, 12
    layer = identity_layer(cls, n)
    x = torch.rand(1, steps, n) * 3.0
    v = None
    if cls.recurrent:
        v = torch.randn(n, n)
        set_params(layer.V, weight=v)
        v = v.tolist()
    kw = {}
    if cls.adaptive:
        kw = {"beta": layer.beta.tolist(), "a": layer.a.tolist(), "b": layer.b.tolist()}
    us, ss = reference(x[0].tolist(), layer.alpha.tolist(), v=v, **kw)
    out = traces(layer, x)
    assert torch.allclose(out.u[0], torch.tensor(us), atol=1e-5)
    assert torch.equal(layer.spikes(x)[0], torch.tensor(ss))
    assert not hasattr(layer, "beta") or cls.adaptive


def test_recurrence_is_row_vector_times_v_with_zero_diagonal():
    layer = identity_layer(RLIFLayer, 2)
    set_params(layer, alpha=[0.9, 0.9])
    set_params(layer.V, weight=[[0.7, 2.0], [3.0, -0.4]])
    x = torch.tensor([[[15.0, 0.0], [0.0, 0.0]]])
    out = traces(layer, x)
    # neuron 0 spikes at t1; SpArch's s V sends V[0, 1] = 2.0 to neuron 1: u = 0.1 * 2.0
    assert out.u[0, 1, 1].item() == pytest.approx(0.2)
    # the diagonal V[0, 0] = 0.7 is ignored: neuron 0 only leaks and resets
    assert out.u[0, 1, 0].item() == pytest.approx(0.9 * (1.5 - 1.0))
    assert torch.equal(layer.recurrent_matrix(), torch.tensor([[0.0, 3.0], [2.0, 0.0]]))


def test_orthogonal_init_and_ranges():
    layer = RadLIFLayer(5, 16)
    v = layer.V.weight
    assert torch.allclose(v @ v.T, torch.eye(16), atol=1e-5)
    assert ALPHA_LIM[0] <= layer.alpha.min() and layer.alpha.max() <= ALPHA_LIM[1]
    assert A_LIM[0] <= layer.a.min() and layer.a.max() <= A_LIM[1]


def test_projection_unsticks_parameters():
    layer = identity_layer(AdLIFLayer, 2)
    x = torch.rand(2, 20, 2) * 4
    with torch.no_grad():
        layer.alpha.fill_(1.5)  # outside the range: the clamp's gradient is zero here
    traces(layer, x).u.sum().backward()
    assert torch.all(layer.alpha.grad == 0)
    layer.zero_grad()
    layer.project_parameters_()
    assert torch.allclose(layer.alpha, torch.full((2,), ALPHA_LIM[1]))
    traces(layer, x).u.sum().backward()
    assert torch.all(layer.alpha.grad != 0)


def test_upstream_layer_name_and_the_one_backend_default():
    assert adLIFLayer is AdLIFLayer  # SpArch's spelling keeps working
    model = SNN((1, 1, 3), [4, 4, 2], neuron_type="adLIF")
    assert all(isinstance(layer, AdLIFLayer) for layer in model.snn[:-1])
    assert [layer.backend for layer in model.snn] == ["auto"] * 3  # as every sparse module


def test_zero_initial_state_is_deterministic():
    model = SNN((2, 30, 5), [8, 4], neuron_type="RadLIF").eval()
    x = torch.rand(2, 30, 5)
    assert torch.equal(model(x)[0], model(x)[0])


@pytest.mark.parametrize("cls", [LIFLayer, RadLIFLayer])
def test_bidirectional_shape_and_flip(cls):
    torch.manual_seed(2)
    bi = cls(4, 6, normalization="none", bidirectional=True)
    uni = cls(4, 6, normalization="none")
    uni.load_state_dict(bi.state_dict())
    x = torch.rand(3, 10, 4) * 3
    out = bi.spikes(x)
    assert out.shape == (3, 10, 12)
    assert torch.equal(out[..., :6], uni.spikes(x))
    assert torch.equal(out[..., 6:], uni.spikes(x.flip(1)).flip(1))
    # with lengths, the backward direction starts on the last valid step
    n_valid = torch.tensor([10, 6, 3])
    out = bi.spikes(x, n_valid)
    for i, n in enumerate(n_valid.tolist()):
        back = uni.spikes(x[i : i + 1, :n].flip(1)).flip(1)
        assert torch.equal(out[i : i + 1, :n, 6:], back)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_readout_is_distribution_and_ignores_padding(bidirectional):
    model = SNN((3, 20, 6), [10, 10, 5], neuron_type="adLIF", bidirectional=bidirectional,
                normalization="none")
    x = torch.rand(3, 20, 6) * 2
    y, rates = model(x)
    assert y.shape == (3, 5) and torch.all(y >= 0)
    assert torch.allclose(y.sum(-1), torch.ones(3))
    assert rates.shape == (10 * (1 + bidirectional) * 2,)
    padded = x.clone()
    padded[1, 12:] = 7.0  # garbage after the end of example 1
    y_pad, _ = model(padded, lengths=torch.tensor([1.0, 0.6, 1.0]))
    y_short, _ = model(x[1:2, :12])
    assert torch.allclose(y_pad[1], y_short[0], atol=1e-6)


def test_rates_are_measured_before_dropout():
    model = SNN((4, 30, 6), [12, 3], neuron_type="LIF", dropout=0.5, normalization="none").train()
    x = torch.rand(4, 30, 6) * 4
    torch.manual_seed(0)
    _, rates = model(x)
    layer = model.snn[0]
    assert model.dt == 10.0  # ms: rates in Hz are spikes per step times 100
    assert torch.allclose(rates, layer.spikes(x).mean(dim=(0, 1)) * 100.0)
    assert rates.max() <= 100.0  # one spike per step


def test_readme_snippet_and_errors():
    import torch.nn as nn  # noqa: F811 (the snippet's own imports)

    from sparse import SNN as PublicSNN

    batch_size, nb_steps, nb_inputs = 4, 100, 20
    x = torch.Tensor(batch_size, nb_steps, nb_inputs)
    nn.init.uniform_(x)
    model = PublicSNN(input_shape=(batch_size, nb_steps, nb_inputs), neuron_type="adLIF",
                      layer_sizes=[128, 128, 10], normalization="batchnorm", dropout=0.1,
                      bidirectional=False, use_readout_layer=False)
    y, firing_rates = model(x)
    assert y.shape == (4, 100, 10) and firing_rates.shape == (266,)
    with pytest.raises(ValueError, match="invalid neuron_type 'Izhikevich'"):
        SNN((1, 1, 3), [4, 2], neuron_type="Izhikevich")
    with pytest.raises(ValueError, match="needs a hidden layer"):
        SNN((1, 1, 3), [2])
    assert SNN((2, 5, 4, 3), [4, 2])(torch.rand(2, 5, 4, 3))[0].shape == (2, 2)


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_config_parameter_counts():
    # 3 hidden layers of 128 + readout; W without bias, BatchNorm (2 per unit), decays per neuron
    shd = {t: count(SNN((1, 1, 700), [128, 128, 128, 20], t)) for t in ("adLIF", "RadLIF")}
    hidden = 700 * 128 + 2 * 128 * 128 + 3 * (2 + 4) * 128
    readout = 128 * 20 + 2 * 20 + 20
    assert shd["adLIF"] == hidden + readout == 127_292
    assert shd["RadLIF"] == shd["adLIF"] + 3 * 128 * 128 == 176_444
    sc35 = {t: count(SNN((1, 1, 40), [128, 128, 128, 35], t)) for t in ("adLIF", "RadLIF")}
    assert sc35 == {"adLIF": 44_777, "RadLIF": 93_929}
    # SpArch's run_exp default nb_layers=3 *including* the readout: [128, 128, n_classes]
    assert count(SNN((1, 1, 700), [128, 128, 20], "RadLIF")) == 142_908
    assert count(SNN((1, 1, 40), [128, 128, 35], "RadLIF")) == 60_393
    assert math.isclose(ALPHA_LIM[0], math.exp(-0.2))


def _spikes_per_step(model: SNN, x: torch.Tensor) -> torch.Tensor:
    """Each spiking neuron's spikes per step, from the layers' own spikes (before dropout)."""
    rates = []
    for layer in model.snn[:-1]:
        s = layer.spikes(x)
        rates.append(s.mean(dim=(0, 1)))
        x = layer.drop(s)
    return torch.cat(rates)


@pytest.mark.parametrize("dt", [14.0, 56.0, 10.0])
def test_rates_in_hz_and_the_penalty_of_sparch_unchanged(dt):
    """SpArch penalises spikes per step with bounds 0.01 and 0.5 (sums over neurons); in Hz,
    with the bounds the YAMLs derive from dt, the value is the same on a fixed batch."""
    from sparse.regularization import sparch_rate_penalty

    torch.manual_seed(0)
    model = SNN((4, 30, 6), [16, 12, 3], "RadLIF", normalization="none", dt=dt).eval()
    x = torch.rand(4, 30, 6) * torch.linspace(0.0, 200.0, 6)  # some neurons silent, some busy
    _, rates_hz = model(x)
    per_step = _spikes_per_step(model, x)
    assert torch.allclose(rates_hz, per_step * 1000.0 / dt)
    assert model.population_names == ["layer1", "layer2"] and model.population_sizes == [16, 12]
    before = torch.relu(0.01 - per_step).sum() + torch.relu(per_step - 0.5).sum()
    assert (per_step < 0.01).any() and (per_step > 0.5).any()  # both terms count
    after = sparch_rate_penalty(rates_hz, 0.01 * 1000 / dt, 0.5 * 1000 / dt, dt)
    assert torch.allclose(after, before, rtol=1e-6, atol=0)
