"""KWSEncoder readout options: time constants in ms and the pooling of the potentials."""

from __future__ import annotations

import math

import pytest
import torch

from sparse import KWSEncoder, ReadoutLayer
from sparse.neurons.modules import READOUT_ALPHA_LIM

SMALL = dict(num_mel_bins=20, auditory_channels=[2], cortex_layer_sizes=[16],
             cortex_feedforward_portions=[1], cortex_sfa_portions=[0.5],
             cortex_rnn_portions=[0.5], readout_features=4)


def test_readout_tau_lim_is_in_ms_and_follows_dt():
    for dt in (2.0, 10.0):
        model = KWSEncoder(**SMALL, dt=dt, readout_tau_lim=[200.0, 2000.0])
        lo, hi = model.readout.alpha_lim
        assert lo == pytest.approx(math.exp(-dt / 200.0)) and hi == pytest.approx(
            math.exp(-dt / 2000.0))
        assert bool(((model.readout.alpha >= lo) & (model.readout.alpha <= hi)).all())
        with torch.no_grad():
            model.readout.alpha[0], model.readout.alpha[1] = 0.5, 1.5
        model.project_parameters_()
        assert model.readout.alpha[0].item() == pytest.approx(lo)
        assert model.readout.alpha[1].item() == pytest.approx(hi)
    # default: upstream's per-step range, whatever dt
    assert KWSEncoder(**SMALL, dt=2.0).readout.alpha_lim == pytest.approx(READOUT_ALPHA_LIM)


@pytest.mark.parametrize("reduction", ["mean", "mean_potential", "max_potential", "sum"])
def test_readout_reductions(reduction):
    torch.manual_seed(0)
    model = KWSEncoder(**SMALL, dt=10.0, readout_reduction=reduction).eval()
    feats = torch.randn(3, 30, 20)
    with torch.no_grad():
        out, spikes = model(feats, return_spikes=True)
        u = model.readout.potentials(spikes[-1])  # (3, 30, 4)
    expected = {
        "mean": torch.softmax(u, -1).mean(1, keepdim=True),
        "sum": torch.softmax(u, -1).sum(1, keepdim=True),
        "mean_potential": torch.softmax(u.mean(1, keepdim=True), -1),
        "max_potential": torch.softmax(u.amax(1, keepdim=True), -1),
    }[reduction]
    assert out.shape == (3, 1, 4)
    torch.testing.assert_close(out, expected)
    if reduction != "sum":
        torch.testing.assert_close(out.sum(-1), torch.ones(3, 1))


def test_readout_reduction_gradient_reaches_the_readout():
    model = KWSEncoder(**SMALL, dt=10.0, readout_reduction="mean_potential")
    out = model(torch.randn(2, 25, 20))
    torch.log(out[:, 0, 1]).sum().backward()
    assert model.readout.W.weight.grad.abs().sum() > 0 and model.readout.alpha.grad is not None


def test_bad_readout_options_raise():
    with pytest.raises(ValueError, match="readout_reduction must be one of"):
        KWSEncoder(**SMALL, readout_reduction="last")
    with pytest.raises(ValueError, match="alpha_lim must satisfy"):
        ReadoutLayer(4, 2, alpha_lim=(0.9, 1.0))
    with pytest.raises(ValueError, match="alpha_lim must be a pair"):
        ReadoutLayer(4, 2, alpha_lim=(0.1, 0.2, 0.3))
