"""Reference dynamics against values computed by hand from SPARSE's and SpArch's equations."""

import math

import pytest
import torch

from sparse.neurons.functional import (
    adlif_scan,
    adlif_step,
    leaky_integrator_scan,
    lif_scan,
    sparch_step,
)
from sparse.neurons.state import AdLIFParameters, AdLIFState
from sparse.neurons.surrogate import spike, surrogate_grad

D = torch.float64


def params(alpha, beta, a, b, threshold=1.0, n=1):
    def vec(v):
        return torch.full((n,), float(v), dtype=D) if not torch.is_tensor(v) else v.to(D)
    return AdLIFParameters(vec(alpha), vec(beta), vec(a), vec(b), threshold)


def run(x, p, recurrent=None, variant="sparse"):
    return adlif_scan(x.to(D), p, recurrent, variant=variant, return_traces=True)


def test_sparse_adlif_three_steps_by_hand():
    # u_t = a(u-s) - (1-a)w + I ; w_t = b(w + b s) + (1-b) a u_t (new u, old s)
    out = run(torch.tensor([[[1.5], [0.0], [0.5]]]), params(0.5, 0.8, 0.5, 1.0))
    assert out.u[0, :, 0].tolist() == pytest.approx([1.5, 0.175, 0.11875])
    assert out.w[0, :, 0].tolist() == pytest.approx([0.15, 0.9375, 0.761875])
    assert out.spikes[0, :, 0].tolist() == [1.0, 0.0, 0.0]


def test_sparse_adlif_without_adaptation_is_lif():
    x = torch.rand(3, 20, 4, dtype=D) * 2
    alpha = torch.tensor([0.3, 0.5, 0.7, 0.9], dtype=D)
    ad = run(x, params(alpha, torch.full((4,), 0.9), 0.0, 0.0, n=4))
    lif = lif_scan(x, alpha, return_traces=True)
    assert torch.equal(ad.spikes, lif.spikes)
    assert torch.equal(ad.w, torch.zeros_like(ad.w))
    # and the LIF recursion by hand: u_t = alpha (u_{t-1} - s_{t-1}) + I_t
    u, s = torch.zeros(3, 4, dtype=D), torch.zeros(3, 4, dtype=D)
    for t in range(20):
        u = alpha * (u - s) + x[:, t]
        s = (u > 1.0).to(D)
        assert torch.allclose(lif.u[:, t], u)


def test_subthreshold_lif_closed_form_without_reset():
    # constant input below threshold: u_t = I (1 - alpha^t) / (1 - alpha), never resets
    alpha, current = 0.8, 0.15
    out = run(torch.full((1, 30, 1), current), params(alpha, 1.0, 0.0, 0.0))
    expected = [current * (1 - alpha**t) / (1 - alpha) for t in range(1, 31)]
    assert out.u[0, :, 0].tolist() == pytest.approx(expected)
    assert out.spikes.sum() == 0


def test_reset_subtracts_previous_spike_before_leak():
    # u2 = alpha * (u1 - 1) + I2 after a spike at t1
    out = run(torch.tensor([[[2.0], [0.0]]]), params(0.6, 1.0, 0.0, 0.0))
    assert out.u[0, 1, 0].item() == pytest.approx(0.6 * (2.0 - 1.0))


def test_recurrent_current_uses_previous_spikes_linear_convention():
    v = torch.tensor([[0.0, 0.7], [0.3, 0.0]], dtype=D)  # V[i, j]: from j to i
    x = torch.tensor([[[1.2, 0.0], [0.0, 0.0]]], dtype=D)
    out = run(x, params(0.5, 1.0, 0.0, 0.0, n=2), recurrent=v)
    assert out.spikes[0, 0].tolist() == [1.0, 0.0]
    assert out.u[0, 1].tolist() == pytest.approx([0.5 * (1.2 - 1.0), 0.3])


def test_sparch_adlif_two_steps_by_hand():
    # w_t = b w + a u_{t-1} + b s_{t-1}; u_t = a(u-s) + (1-a)(I - w_t)
    out = run(torch.tensor([[[3.0], [0.0]]]), params(0.5, 0.8, 0.5, 1.0), variant="sparch")
    assert out.w[0, :, 0].tolist() == pytest.approx([0.0, 1.75])
    assert out.u[0, :, 0].tolist() == pytest.approx([1.5, -0.625])
    assert out.spikes[0, :, 0].tolist() == [1.0, 0.0]


def test_sparch_recurrent_drive_is_scaled_by_one_minus_alpha():
    v = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=D)
    state = AdLIFState(torch.zeros(1, 2, dtype=D), torch.zeros(1, 2, dtype=D),
                       torch.tensor([[1.0, 0.0]], dtype=D))
    _, new = sparch_step(torch.zeros(1, 2, dtype=D), state, params(0.75, 1.0, 0.0, 0.0, n=2), v)
    assert new.u[0].tolist() == pytest.approx([0.75 * (0 - 1), 0.25 * 2.0])


def test_step_and_scan_agree_and_state_continues():
    p = params(0.7, 0.9, 0.3, 0.2, n=5)
    x = torch.rand(2, 12, 5, dtype=D) * 2
    whole = adlif_scan(x, p)
    first = adlif_scan(x[:, :5], p)
    second = adlif_scan(x[:, 5:], p, state=first.state)
    assert torch.equal(torch.cat([first.spikes, second.spikes], 1), whole.spikes)
    state = AdLIFState(*(torch.zeros(2, 5, dtype=D) for _ in range(3)))
    for t in range(12):
        s, state = adlif_step(x[:, t], state, p)
        assert torch.equal(s, whole.spikes[:, t])


def test_threshold_is_strict():
    out = run(torch.tensor([[[1.0], [1.0 + 1e-9]]], dtype=D), params(0.0, 1.0, 0.0, 0.0))
    assert out.spikes[0, :, 0].tolist() == [0.0, 1.0]


def test_leaky_integrator_by_hand():
    u = leaky_integrator_scan(torch.tensor([[[2.0], [0.0]]]), torch.tensor([0.25]))
    assert u[0, :, 0].tolist() == pytest.approx([1.5, 0.375])


@pytest.mark.parametrize("name", ["boxcar", "fast_sigmoid", "triangle"])
def test_surrogate_gradient_shape(name):
    x = torch.linspace(-2, 2, 401, requires_grad=True)
    spike(x, name).sum().backward()
    g = x.grad
    assert g.max() == pytest.approx(1.0)
    assert g[200] == pytest.approx(1.0)  # peak at the threshold
    assert torch.all(g[:200] <= g[1:201] + 1e-7)  # rises towards 0 ...
    assert torch.all(g[200:-1] + 1e-7 >= g[201:])  # ... and falls after it
    if name == "boxcar":
        assert torch.equal(g, ((x > -0.5) & (x <= 0.5)).float())


def test_unknown_surrogate_and_variant_raise():
    with pytest.raises(ValueError, match="unknown surrogate"):
        surrogate_grad(torch.zeros(1), "nope")
    with pytest.raises(ValueError, match="unknown neuron variant"):
        adlif_scan(torch.zeros(1, 2, 1), params(0.5, 0.5, 0, 0), variant="nope")
    with pytest.raises(ValueError, match=r"\(batch, time, neurons\)"):
        adlif_scan(torch.zeros(2, 1), params(0.5, 0.5, 0, 0))


def test_gradients_flow_to_every_input_of_the_scan():
    n = 6
    tau = torch.full((n,), 10.0, dtype=D, requires_grad=True)
    a = torch.full((n,), 0.5, dtype=D, requires_grad=True)
    b = torch.full((n,), 0.3, dtype=D, requires_grad=True)
    v = (torch.randn(n, n, dtype=D) * 0.3).requires_grad_()
    x = (torch.rand(2, 40, n, dtype=D) * 1.5).requires_grad_()
    p = AdLIFParameters(torch.exp(-1.0 / tau), torch.exp(-1.0 / (tau * 10)), a, b, 1.0)
    out = adlif_scan(x, p, v, return_traces=True)
    (out.spikes.sum() + out.u.pow(2).sum()).backward()
    for t in (tau, a, b, v, x):
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    assert math.isfinite(out.u.sum().item())
