"""SPARSE neuron modules: constraints, masks as buffers, gradients, errors."""

import math

import pytest
import torch

from sparse import AdLIFNeurons, KWSEncoder, MultilayeredSpiking, ReadoutLayer, SpikingFCLayer
from sparse.neurons.modules import connection_mask


def test_effective_parameters_respect_ranges_and_a_bound():
    neurons = AdLIFNeurons(64, sfa_portion=1.0, rnn_portion=0.0, tauu_lim=(3, 25),
                           tauw_lim=(30, 350), a_lim=(-0.5, 5), b_lim=(0, 2), dt=2.0)
    with torch.no_grad():  # push the raw parameters far outside their ranges
        neurons.tau_u.uniform_(-10, 60)
        neurons.tau_w.uniform_(0, 900)
        neurons.a.uniform_(-3, 9)
        neurons.b.uniform_(-1, 4)
    c = neurons.effective_parameters()
    assert c.tau_u.min() >= 3 and c.tau_u.max() <= 25
    assert c.tau_w.min() >= 30 and c.tau_w.max() <= 350
    assert c.b.min() >= 0 and c.b.max() <= 2
    bound = (c.tau_w - c.tau_u) ** 2 / (4 * c.tau_u * c.tau_w) - 1e-5
    assert torch.all(c.a <= torch.clamp(bound, max=5.0) + 1e-6)
    assert torch.all(c.a >= -0.5)
    at_bound = torch.isclose(c.a, bound)
    assert at_bound.sum() > 10  # most raw a were above it
    # the sub-threshold system tau_u u' = -u - w, tau_w w' = a u - w has real eigenvalues
    # (no oscillation), and only just: a little above the bound they turn complex
    assert _eigenvalues(c.tau_u, c.tau_w, c.a).imag.abs().max() == 0
    beyond = _eigenvalues(c.tau_u, c.tau_w, c.a + 1e-3)
    assert (beyond.imag.abs().amax(-1) > 0)[at_bound].all()


def _eigenvalues(tau_u, tau_w, a):
    """Eigenvalues ``(N, 2)`` of ``[[-1/tau_u, -1/tau_u], [a/tau_w, -1/tau_w]]`` (float64)."""
    tau_u, tau_w, a = (t.detach().double() for t in (tau_u, tau_w, a))
    rows = (torch.stack([-1 / tau_u, -1 / tau_u], -1), torch.stack([a / tau_w, -1 / tau_w], -1))
    return torch.linalg.eigvals(torch.stack(rows, -2))


def test_a_bound_by_hand():
    neurons = AdLIFNeurons(1, sfa_portion=1.0, rnn_portion=0.0, a_lim=(-0.5, 5.0))
    with torch.no_grad():
        neurons.tau_u.fill_(5.0)
        neurons.tau_w.fill_(45.0)
        neurons.a.fill_(4.0)
    # (45 - 5)^2 / (4 * 5 * 45) - 1e-5 = 1600 / 900 - 1e-5
    assert neurons.effective_parameters().a.item() == pytest.approx(16 / 9 - 1e-5)


def test_lif_neurons_have_no_adaptation_and_sfa_share_is_exact():
    neurons = AdLIFNeurons(50, sfa_portion=0.3, rnn_portion=0.0)
    assert int(neurons.sfa_mask.sum()) == 15
    c = neurons.effective_parameters()
    assert torch.all(c.a[~neurons.sfa_mask] == 0) and torch.all(c.b[~neurons.sfa_mask] == 0)


def test_forward_does_not_mutate_parameters_and_projection_is_idempotent():
    neurons = AdLIFNeurons(32, sfa_portion=0.5, rnn_portion=0.5, dt=1.0)
    with torch.no_grad():
        neurons.tau_u[0] = 100.0
    before = {k: v.clone() for k, v in neurons.state_dict().items()}
    x = torch.rand(2, 10, 32) * 2
    y = neurons(x)
    for k, v in neurons.state_dict().items():
        assert torch.equal(v, before[k]), k
    neurons.project_parameters_()
    assert neurons.tau_u[0].item() == 25.0
    assert torch.equal(neurons(x), y)  # forward already used the constrained values
    snapshot = {k: v.clone() for k, v in neurons.state_dict().items()}
    neurons.project_parameters_()
    assert all(torch.equal(v, snapshot[k]) for k, v in neurons.state_dict().items())


def test_recurrent_mask_zero_diagonal_and_density():
    mask = connection_mask(100, 100, 0.5, zero_diagonal=True)
    assert not mask.diagonal().any()
    assert int(connection_mask(100, 100, 0.5).sum()) == 5000  # exact count, square
    lateral = connection_mask(9, 9, 0.5, lateral=True)  # radius int(0.5*9/2) = 2
    assert lateral[4].int().tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 0]
    rect = connection_mask(400, 300, 0.25)
    assert abs(rect.float().mean().item() - 0.25) < 0.02  # Bernoulli, non-square
    with pytest.raises(ValueError, match="square"):
        connection_mask(4, 5, 0.5, lateral=True)


def _net(seed):
    torch.manual_seed(seed)
    return MultilayeredSpiking(12, [10, 8], sfa_portions=[0.5, 0.5], rnn_portions=[0.4, 0.3],
                               ff_portions=[0.5, 0.6], dt=2.0)


def test_masks_survive_state_dict_round_trip_into_model_built_with_other_seed():
    trained, fresh = _net(0), _net(1)
    assert not torch.equal(trained.layers[0].ff_mask, fresh.layers[0].ff_mask)
    fresh.load_state_dict(trained.state_dict())
    for a, b in zip(trained.layers, fresh.layers, strict=True):
        assert torch.equal(a.ff_mask, b.ff_mask)
        assert torch.equal(a.neurons.sfa_mask, b.neurons.sfa_mask)
        assert torch.equal(a.neurons.rnn_mask, b.neurons.rnn_mask)
    trained.eval(), fresh.eval()
    x = (torch.rand(2, 30, 12) > 0.5).float() * 3
    assert torch.equal(trained(x), fresh(x))


def test_state_dict_lists_masks_as_buffers():
    keys = set(_net(0).state_dict())
    assert {"layers.0.ff_mask", "layers.0.neurons.sfa_mask", "layers.0.neurons.rnn_mask"} <= keys


def test_gradients_finite_and_nonzero_through_1000_steps():
    neurons = AdLIFNeurons(16, sfa_portion=0.5, rnn_portion=0.5, use_lateral_rnn=False, dt=1.0)
    x = (torch.rand(1, 1000, 16) * 2).requires_grad_()
    neurons(x)[:, -100:].sum().backward()
    assert torch.isfinite(x.grad).all()
    for name, p in neurons.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    # the error signal of the last 100 steps reaches the first half of the sequence
    assert x.grad[:, :500].abs().sum() > 0


def test_readout_is_deterministic_in_eval_and_sums_softmax():
    readout = ReadoutLayer(6, 4).eval()
    x = torch.rand(3, 25, 6)
    out = readout(x)
    assert torch.equal(out, readout(x))
    assert torch.allclose(out.sum(-1), torch.full((3, 1), 25.0))
    alpha = readout.alpha.detach()
    assert alpha.min() >= math.exp(-1 / 5) and alpha.max() <= math.exp(-1 / 25)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sfa_portion=1.5), "sfa_portion must be in"),
        (dict(rnn_portion=-0.1), "rnn_portion must be in"),
        (dict(dt=0.0), "dt must be > 0"),
        (dict(dt=-2.0), "dt must be > 0"),
        (dict(tauu_lim=(25, 3)), "tauu_lim"),
        (dict(backend="warp"), "unknown backend"),
        (dict(surrogate="nope"), "unknown surrogate"),
    ],
)
def test_neuron_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):  # at construction, not at the first call
        AdLIFNeurons(4, **kwargs)


def test_wrong_rank_and_width_raise():
    neurons = AdLIFNeurons(4)
    with pytest.raises(ValueError, match=r"\(batch, time, features\)"):
        neurons(torch.rand(2, 4))
    with pytest.raises(ValueError, match="expected 4 input features"):
        neurons(torch.rand(1, 3, 5))


def _config(neurons) -> dict:
    names = ("tauu_lim", "tauw_lim", "a_lim", "b_lim", "use_normal_init", "threshold", "dt")
    return {n: getattr(neurons.neuron, n) for n in names}


def test_neuron_defaults_per_family_are_upstream_ones():
    """Upstream's SpikingNeurons, its cortex layers and its encoders: three sets on purpose."""
    population = dict(tauu_lim=(3, 25), tauw_lim=(30, 350), a_lim=(-0.5, 5), b_lim=(0, 2),
                      use_normal_init=False, threshold=1, dt=10)
    cortex = dict(tauu_lim=(3, 25), tauw_lim=(30, 500), a_lim=(0, 5), b_lim=(0, 1.25),
                  use_normal_init=True, threshold=1, dt=1)
    encoder = dict(population, dt=1)
    assert _config(AdLIFNeurons(3)) == population
    assert _config(SpikingFCLayer(2, 2).neurons) == cortex
    assert _config(MultilayeredSpiking(2, [2, 2]).layers[0].neurons) == cortex
    model = KWSEncoder(num_mel_bins=20, auditory_channels=[2], cortex_layer_sizes=[4],
                       cortex_feedforward_portions=[1], cortex_sfa_portions=[1],
                       cortex_rnn_portions=[0], readout_features=3)
    # ASREncoder and KWSEncoder's: every population of the encoder
    assert _config(model.nerve.neurons) == _config(model.cortex.layers[0].neurons) == encoder
    cortex_neurons = model.cortex.layers[0].neurons
    assert (cortex_neurons.tauw_lim, cortex_neurons.a_lim, cortex_neurons.dt) == (
        (30, 350), (-0.5, 5), 1)
    layer = AdLIFNeurons(3)
    assert (layer.tauw_lim, layer.a_lim, layer.dt) == ((30, 350), (-0.5, 5), 10)


def test_neuron_arguments_travel_as_one_object():
    from sparse.neurons.defaults import CORTEX
    from sparse.neurons.state import AdLIFConfig

    by_keys = MultilayeredSpiking(4, [3, 2], dt=2.0, tauw_lim=[30, 350], backend="reference",
                                  surrogate="triangle")
    config = CORTEX._replace(dt=2.0, tauw_lim=(30.0, 350.0), backend="reference",
                             surrogate="triangle")
    by_object = MultilayeredSpiking(4, [3, 2], neuron=config)
    by_dict = MultilayeredSpiking(4, [3, 2], neuron={"dt": 2, "tauw_lim": (30, 350),
                                                     "backend": "reference",
                                                     "surrogate": "triangle"})
    for net in (by_keys, by_object, by_dict):
        assert isinstance(net.layers[1].neurons.neuron, AdLIFConfig)
        assert all(layer.neurons.neuron == config for layer in net.layers)
        assert net.dt == 2.0
    model = KWSEncoder(num_mel_bins=20, auditory_channels=[2], cortex_layer_sizes=[4],
                       cortex_feedforward_portions=[1], cortex_sfa_portions=[1],
                       cortex_rnn_portions=[0], readout_features=3, adlif_threshold=0.5,
                       adlif_tauu_lim=[4, 20], dt=5.0, backend="reference")
    for neurons in (model.nerve.neurons, model.cortex.layers[0].neurons):
        assert (neurons.threshold, neurons.tauu_lim, neurons.dt) == (0.5, (4.0, 20.0), 5.0)
    assert model.readout.backend == "reference"


def test_unknown_neuron_arguments_are_named():
    with pytest.raises(TypeError, match="unknown neuron argument 'tau_lim'; did you mean"):
        MultilayeredSpiking(4, [3, 3], tau_lim=[3, 25])
    with pytest.raises(TypeError, match="unknown keyword argument.*'adlif_tau_lim'"):
        KWSEncoder(num_mel_bins=20, adlif_tau_lim=[3, 25])
    with pytest.raises(ValueError, match="unknown backend"):
        MultilayeredSpiking(4, [3, 3], neuron={"backend": "warp"})


def test_set_backend_switches_every_population_of_a_model():
    from sparse import SNN
    from sparse.neurons.network import set_backend

    model = KWSEncoder(num_mel_bins=20, auditory_channels=[2], cortex_layer_sizes=[4, 4],
                       cortex_feedforward_portions=[1, 1], cortex_sfa_portions=[1, 1],
                       cortex_rnn_portions=[0, 0], readout_features=3, backend="cpu")
    scanning = [m for m in model.modules() if isinstance(getattr(m, "backend", None), str)]
    assert len(scanning) == 4  # nerve, two cortex layers, readout
    assert set_backend(model, "reference") is model
    assert {m.backend for m in scanning} == {"reference"}
    snn = set_backend(SNN((1, 1, 5), [4, 4, 2], "RadLIF"), "cpu")
    assert {m.backend for m in snn.modules() if hasattr(m, "backend")} == {"cpu"}
    with pytest.raises(ValueError, match="unknown backend"):
        set_backend(model, "warp")
    assert {m.backend for m in scanning} == {"reference"}  # checked before any change
