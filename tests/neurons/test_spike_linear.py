"""Event-driven feed-forward products of the ``cpu`` back-end against the dense products.

The forward current must equal the dense ``linear(dropout(x))`` (bit for bit where the sums
are exact: weights on a binary grid), every gradient the loss has with respect to
parameters and to the inputs of the spiking layer before must match, over densities 0-100 %,
non-binary inputs, fused dropout, padded steps, odd sizes and every surrogate.
"""

from __future__ import annotations

import sys

import pytest
import torch

from sparse.encoders.multilayer import SpikingFCLayer
from sparse.neurons import engine
from sparse.neurons.backends import cpu, spike_linear
from sparse.neurons.backends.testing import SURROGATE_NAMES
from sparse.neurons.state import AdLIFParameters
from sparse.neurons.surrogate import surrogate_grad

pytest.importorskip("numba")

FF = spike_linear.feedforward_cpu
DENSE = engine.dense_feedforward


@pytest.fixture(params=["events", "dense", "mixed"])
def path(request, monkeypatch):
    """Every product event-driven whatever the density, every product dense, or the forward
    product and the input gradient event-driven with a dense weight gradient."""
    limits = {"events": (2.0, 2.0, 2.0), "dense": (-1.0, -1.0, -1.0), "mixed": (2.0, -1.0, 2.0)}
    limit = spike_linear.DenseAbove(*limits[request.param])
    monkeypatch.setattr(spike_linear, "DENSE_ABOVE", limit)
    return request.param


def grid(*shape: int, gen: torch.Generator, bits: int = 6) -> torch.Tensor:
    """Values on a grid of ``2^-bits`` in [-1, 1]: every sum of them is exact in float32."""
    return torch.randint(-(2**bits), 2**bits + 1, shape, generator=gen).float() / 2**bits


def spikes(*shape: int, density: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(*shape, generator=gen) < density).float()


def grads(out: torch.Tensor, leaves: list[torch.Tensor], seed: int = 1) -> tuple:
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    return torch.autograd.grad((out * weight).sum(), leaves, retain_graph=True)


@pytest.mark.parametrize("density", [0.0, 0.01, 0.04, 0.1, 0.3, 1.0])
def test_product_and_gradients_match_the_dense_product(path, density):
    gen = torch.Generator().manual_seed(int(density * 100))
    x = spikes(3, 40, 37, density=density, gen=gen).requires_grad_()
    w = grid(19, 37, gen=gen).requires_grad_()
    b = grid(19, gen=gen).requires_grad_()
    got, ref = FF(x, w, b), DENSE(x, w, b)
    assert torch.equal(got, ref)  # exact sums: bit for bit, whatever the order
    for g, r in zip(grads(got, [x, w, b]), grads(ref, [x, w, b]), strict=True):
        torch.testing.assert_close(g, r, rtol=0, atol=0)


def test_random_weights_and_non_binary_inputs_within_rounding(path):
    """Inverted dropout makes inputs 0 or 1/(1-p); any value works, float64 too."""
    gen = torch.Generator().manual_seed(2)
    for dtype in (torch.float32, torch.float64):
        x = (spikes(2, 30, 50, density=0.1, gen=gen) / 0.85).to(dtype)
        x[0, 3, :5] = torch.tensor([0.5, -2.0, 3.25, 0.0, 1e-3], dtype=dtype)
        x.requires_grad_()
        w = torch.randn(24, 50, generator=gen, dtype=dtype).requires_grad_()
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        got, ref = FF(x, w), DENSE(x, w)
        torch.testing.assert_close(got, ref, rtol=tol, atol=tol)
        for g, r in zip(grads(got, [x, w]), grads(ref, [x, w]), strict=True):
            torch.testing.assert_close(g, r, rtol=tol, atol=tol)


def test_padded_steps_give_the_bias_and_no_weight_gradient(path):
    gen = torch.Generator().manual_seed(3)
    x = spikes(2, 12, 9, density=0.3, gen=gen)
    x[1, 5:] = 0.0  # a shorter utterance: its padded steps carry no spike
    x.requires_grad_()
    w, b = grid(4, 9, gen=gen).requires_grad_(), grid(4, gen=gen)
    out = FF(x, w, b)
    assert torch.equal(out[1, 5:], b.expand(7, 4))
    g = torch.zeros_like(out)
    g[1, 5:] = 1.0  # gradients of padded outputs only
    (gw,) = torch.autograd.grad(out, [w], g)
    assert torch.equal(gw, torch.zeros_like(w))


def test_two_dimensional_input_and_empty_batch(path):
    gen = torch.Generator().manual_seed(4)
    x, w = spikes(7, 11, density=0.2, gen=gen), grid(5, 11, gen=gen)
    assert torch.equal(FF(x, w), DENSE(x, w))
    assert FF(x[:0], w).shape == (0, 5)


def _seed_of_next_call() -> int:
    """The hash seed :func:`feedforward_cpu` draws after ``torch.manual_seed(7)``."""
    torch.manual_seed(7)
    return int(torch.randint(0, 2**62, (1,)))


@pytest.mark.parametrize("p", [0.5, 0.75])
def test_fused_dropout_is_the_dense_product_with_its_mask(path, p):
    """Given the mask of the call's seed, the dense path gives the same values and gradients
    (``p`` 0.5 and 0.75: scales 2 and 4 keep the sums exact)."""
    gen = torch.Generator().manual_seed(5)
    x = spikes(3, 20, 30, density=0.2, gen=gen).requires_grad_()
    w, b = grid(8, 30, gen=gen).requires_grad_(), grid(8, gen=gen)
    mask = spike_linear.dropout_mask((3, 20, 30), p, _seed_of_next_call())
    assert set(mask.unique().tolist()) == {0.0, 1.0 / (1.0 - p)}
    torch.manual_seed(7)
    got = FF(x, w, b, p, training=True)
    ref = torch.nn.functional.linear(x * mask, w, b)
    assert torch.equal(got, ref)
    for g, r in zip(grads(got, [x, w]), grads(ref, [x, w]), strict=True):
        torch.testing.assert_close(g, r, rtol=0, atol=0)


def test_dropout_mask_statistics_and_reproducibility():
    """Keep rate 1 - p, fresh masks per call, none in evaluation (no random draw either)."""
    p, shape = 0.15, (64, 50, 40)
    masks = [spike_linear.dropout_mask(shape, p, seed) for seed in (1, 2)]
    for mask in masks:
        kept = (mask > 0).double().mean().item()
        assert abs(kept - (1 - p)) < 0.005  # 128000 draws: 5 standard deviations
    assert not torch.equal(masks[0], masks[1])
    assert torch.equal(masks[0], spike_linear.dropout_mask(shape, p, 1))
    x, w = torch.ones(2, 3, 40), torch.ones(5, 40)
    state = torch.get_rng_state()
    assert torch.equal(FF(x, w, None, p, training=False), DENSE(x, w))
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(0)
    first = FF(x, w, None, p, training=True)
    torch.manual_seed(0)
    assert torch.equal(FF(x, w, None, p, training=True), first)
    assert not torch.equal(FF(x, w, None, p, training=True), first)


def _lif(n: int) -> AdLIFParameters:
    alpha = torch.linspace(0.8, 0.95, n).requires_grad_()
    zeros = torch.zeros(n)
    return AdLIFParameters(alpha, torch.full((n,), 0.9), zeros, zeros, 1.0)


@pytest.mark.parametrize("surrogate", SURROGATE_NAMES)
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_upstream_gradients_through_a_spiking_layer(path, surrogate, dropout):
    """Spikes of a ``cpu`` scan feed the product: the gradients of the scan's input and
    parameters equal those of the dense product, also where the input gradient is restricted
    to the surrogate's support (boxcar, triangle), which must then be what happened."""
    gen = torch.Generator().manual_seed(6)
    n_in, n_out = 33, 12
    drive = (torch.rand(2, 50, n_in, generator=gen) * 0.9 - 0.2).requires_grad_()
    p = _lif(n_in)
    w = torch.randn(n_out, n_in, generator=gen).requires_grad_()
    leaves = [drive, p.alpha, w]

    def run(product):
        s = cpu.adlif_scan_cpu(drive, p, surrogate=surrogate).spikes
        seen = []
        s.register_hook(seen.append)  # the gradient of the spikes themselves
        return s, grads(product(s), leaves), seen[0]

    seed = _seed_of_next_call()
    torch.manual_seed(7)
    s, got, s_got = run(lambda s: FF(s, w, None, dropout, training=True))
    mask = spike_linear.dropout_mask(s.shape, dropout, seed) if dropout else 1.0
    _, ref, s_ref = run(lambda s: torch.nn.functional.linear(s * mask, w))
    assert 0.02 < s.mean() < 0.6
    for g, r in zip(got, ref, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)
    u = cpu.adlif_scan_cpu(drive, p, return_traces=True).u.detach()
    zero = surrogate_grad(u - 1.0, surrogate) == 0
    assert zero.float().mean() > 0.02 or surrogate == "fast_sigmoid"
    restricted = path != "dense" and surrogate in spike_linear.COMPACT_SURROGATES
    assert torch.equal(s_got[zero], torch.zeros_like(s_got[zero]) if restricted else s_ref[zero])
    torch.testing.assert_close(s_got[~zero], s_ref[~zero], rtol=1e-5, atol=1e-5)


def test_support_is_found_for_scan_spikes_only():
    gen = torch.Generator().manual_seed(8)
    drive = (torch.rand(1, 10, 4, generator=gen) * 2).requires_grad_()
    out = cpu.adlif_scan_cpu(drive, _lif(4))
    found = cpu.spike_support(out.spikes)
    assert found is not None and found[0].shape == (1, 10, 4) and found[1:] == (1.0, "boxcar")
    assert cpu.spike_support(out.state.s) is None  # the final state, not the spike trace
    assert cpu.spike_support(out.spikes * 1.0) is None
    assert cpu.spike_support(drive) is None
    out.spikes.sum().backward()  # frees the saved tensors
    assert cpu.spike_support(out.spikes) is None


def test_results_do_not_depend_on_threads():
    gen = torch.Generator().manual_seed(9)
    x = spikes(8, 25, 70, density=0.1, gen=gen).requires_grad_()
    w = torch.randn(30, 70, generator=gen).requires_grad_()
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(3)
            out = FF(x, w, None, 0.2, training=True)
            results.append((out, *grads(out, [w])))
    finally:
        torch.set_num_threads(previous)
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def test_spike_gram_is_the_transposed_product(path):
    gen = torch.Generator().manual_seed(10)
    s, a = spikes(60, 21, density=0.1, gen=gen), grid(60, 13, gen=gen)
    assert torch.equal(spike_linear.spike_gram(a, s), a.T @ s)


def test_layer_spikes_are_bit_identical_with_events_on_and_off():
    """A cortex layer (masked weights on a binary grid) fed with scan spikes."""
    gen = torch.Generator().manual_seed(11)
    torch.manual_seed(0)
    layer = SpikingFCLayer(40, 16, ff_portion=0.5, backend="cpu").eval()
    with torch.no_grad():
        layer.W.weight.copy_(grid(16, 40, gen=gen))
        layer.W.bias.copy_(grid(16, gen=gen))
    drive = (torch.rand(2, 60, 40, generator=gen) * 0.7).requires_grad_()
    x = cpu.adlif_scan_cpu(drive, _lif(40)).spikes
    on = layer(x)
    with spike_linear.event_driven(False):
        off = layer(x)
    assert on.any() and torch.equal(on, off)
    g_on, g_off = grads(on, [drive, layer.W.weight]), grads(off, [drive, layer.W.weight])
    for g, r in zip(g_on, g_off, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def test_engine_dispatch_and_fallbacks(monkeypatch):
    """``reference`` takes the dense product with nn.Dropout's draws; half precision and a
    broken Numba fall back to it (warned once)."""
    x, w = torch.ones(2, 3, 4), torch.ones(5, 4)
    torch.manual_seed(1)
    ref = engine.feedforward(x, w, dropout=0.3, training=True, backend="reference")
    torch.manual_seed(1)
    assert torch.equal(ref, torch.nn.functional.linear(torch.nn.Dropout(0.3)(x), w))
    half = engine.feedforward(x.bfloat16(), w.bfloat16(), backend="cpu")
    assert torch.equal(half, DENSE(x.bfloat16(), w.bfloat16()))
    monkeypatch.setitem(sys.modules, "sparse.neurons.backends.spike_kernels", None)
    monkeypatch.delattr(sys.modules[spike_linear.__package__], "spike_kernels", raising=False)
    spike_linear.load_spike_kernels.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="dense products"):
            torch.manual_seed(1)
            broken = engine.feedforward(x, w, dropout=0.3, training=True, backend="cpu")
        assert torch.equal(broken, ref)
    finally:
        monkeypatch.undo()
        spike_linear.load_spike_kernels.cache_clear()


def test_without_gradient_each_row_is_computed_alone(path):
    """Inference: a row's current does not depend on the rows it is computed with, even
    above the dense limit (chunks of a stream sum as the whole recording)."""
    gen = torch.Generator().manual_seed(12)
    x, w, b = spikes(4, 50, 60, density=0.6, gen=gen), torch.randn(30, 60, generator=gen), None
    with torch.no_grad():
        whole = FF(x, w, b)
        for lo, hi in ((0, 1), (1, 7), (7, 50)):
            assert torch.equal(FF(x[:, lo:hi], w, b), whole[:, lo:hi])
