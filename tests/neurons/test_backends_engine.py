"""Back-end registry behaviour: no silent downgrade, no Triton probing, imports without Triton."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import pytest
import torch

import sparse.neurons.backends as backends
from sparse.neurons import engine
from sparse.neurons.engine import Backend
from sparse.neurons.modules import AdLIFNeurons, ReadoutLayer


def _boom(*args, **kwargs):
    raise AssertionError("a fast back-end was called")


def _block_triton(monkeypatch) -> None:
    """Make ``import triton`` fail and any ``find_spec('triton')`` call an error."""
    monkeypatch.setitem(sys.modules, "triton", None)
    for name in ("sparse.neurons.backends.triton_ops", "sparse.neurons.backends.triton_kernels"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name.split(".")[0] == "triton":
            raise AssertionError("triton was probed")
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_reference_path_never_calls_a_kernel(monkeypatch):
    for name in ("cpu", "triton"):
        fake = Backend(name, _boom, lambda device: True, _boom)
        monkeypatch.setitem(engine.BACKENDS, name, fake)
    _block_triton(monkeypatch)
    layer = AdLIFNeurons(6, rnn_portion=0.5, backend="reference")
    layer(torch.rand(2, 5, 6, requires_grad=True)).sum().backward()
    ReadoutLayer(6, 3, backend="reference")(torch.rand(2, 5, 6)).sum().backward()


@pytest.mark.parametrize("backend", ["reference", "cpu", "auto"])
def test_cpu_paths_do_not_probe_triton(monkeypatch, backend):
    _block_triton(monkeypatch)
    layer = AdLIFNeurons(6, rnn_portion=0.5, backend=backend)
    layer(torch.rand(2, 5, 6, requires_grad=True)).sum().backward()
    assert "sparse.neurons.backends.triton_ops" not in sys.modules


def test_package_imports_and_runs_without_triton(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)
    monkeypatch.setitem(sys.modules, "triton.language", None)
    for name in [m for m in sys.modules if m.startswith("sparse.neurons.backends")]:
        monkeypatch.delitem(sys.modules, name)
    # the fresh import re-registers its back-ends: keep the registry of the other tests intact
    monkeypatch.setattr(engine, "BACKENDS", dict(engine.BACKENDS))
    monkeypatch.setattr(engine, "AUTO_ORDER", list(engine.AUTO_ORDER))
    fresh = importlib.import_module("sparse.neurons.backends")
    assert fresh is not backends
    assert not fresh.triton_available(torch.device("cuda"))
    assert engine.resolve_backend("auto", torch.device("cpu")).name == "cpu"
    out = engine.adlif(torch.rand(1, 4, 3), AdLIFNeurons(3).scan_parameters(), backend="auto")
    assert out.spikes.shape == (1, 4, 3)
    with pytest.raises(ImportError, match="triton"):
        fresh._triton_adlif()


def test_explicit_unavailable_backend_raises_instead_of_downgrading():
    if torch.cuda.is_available():
        pytest.skip("the triton back-end may be available here")
    x = torch.rand(1, 3, 2)
    params = AdLIFNeurons(2).scan_parameters()
    with pytest.raises(RuntimeError, match="not available"):
        engine.adlif(x, params, backend="triton")
    with pytest.raises(ValueError, match="unknown backend"):
        engine.adlif(x, params, backend="cuda-magic")


def test_auto_order_puts_triton_then_cpu_before_reference():
    order = engine.AUTO_ORDER
    assert order.index("triton") < order.index("cpu") < order.index("reference")
    assert engine.resolve_backend("auto", torch.device("cpu")).name == "cpu"


def _registry():
    return dict(engine.BACKENDS), list(engine.AUTO_ORDER)


def test_registered_backend_lives_for_the_block_only():
    before = _registry()
    mine = Backend("mine", _boom, lambda device: True)
    with engine.registered_backend(mine, prefer=True) as got:
        assert got is mine and engine.BACKENDS["mine"] is mine
        assert engine.resolve_backend("auto", torch.device("cpu")) is mine
    assert _registry() == before
    with pytest.raises(KeyError, match="raised inside"):
        with engine.registered_backend(mine):
            raise KeyError("raised inside")
    assert _registry() == before


def test_registered_backend_may_shadow_one_and_gives_it_back():
    before = _registry()
    shadow = Backend("cpu", _boom, lambda device: True)
    with engine.registered_backend(shadow):
        assert engine.resolve_backend("cpu", torch.device("cpu")) is shadow
        assert engine.AUTO_ORDER == before[1]  # a known name keeps its place
    assert _registry() == before
    assert engine.BACKENDS["cpu"] is not shadow
