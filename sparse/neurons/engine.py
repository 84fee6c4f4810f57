"""One entry point for every neuron scan, with interchangeable back-ends.

Layers never loop over time themselves: they call :func:`adlif` (spiking
populations) or :func:`leaky_integrator` (non-spiking readouts) with a
``backend`` name. Back-ends register themselves in :data:`BACKENDS`; the
``reference`` back-end is the plain loop of :mod:`sparse.neurons.functional`,
the oracle all others are tested against.

A back-end is a callable with the signature of
:func:`sparse.neurons.functional.adlif_scan` plus an ``available(device)``
predicate. ``"auto"`` resolves to the first available back-end in
:data:`AUTO_ORDER` for the input's device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from . import framewise
from . import functional as F
from .state import AdLIFParameters, AdLIFState, ScanResult

__all__ = ["Backend", "BACKENDS", "AUTO_ORDER", "register_backend", "registered_backend",
           "resolve_backend", "check_backend", "adlif", "leaky_integrator", "feedforward",
           "dense_feedforward"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backend:
    """A registered scan implementation.

    Attributes
    ----------
    name : str
        Registry key, used in YAML as ``backend: <name>``.
    adlif : callable
        Same signature and result as :func:`sparse.neurons.functional.adlif_scan`.
    available : callable
        ``available(device) -> bool``: whether it can run on that device here.
    leaky_integrator : callable, optional
        Same signature as :func:`sparse.neurons.functional.leaky_integrator_scan`.
    feedforward : callable, optional
        Same signature and result as :func:`dense_feedforward` (the default): the
        feed-forward product of a layer whose input is spikes.
    """

    name: str
    adlif: Callable[..., ScanResult]
    available: Callable[[torch.device], bool]
    leaky_integrator: Callable[..., Tensor] | None = None
    feedforward: Callable[..., Tensor] | None = None


BACKENDS: dict[str, Backend] = {}

#: Preference order of ``backend="auto"``; unavailable entries are skipped.
AUTO_ORDER: list[str] = ["reference"]


def register_backend(backend: Backend, *, prefer: bool = False) -> None:
    """Add ``backend`` to the registry (``prefer=True`` puts it first for ``"auto"``)."""
    BACKENDS[backend.name] = backend
    if backend.name not in AUTO_ORDER:
        if prefer:
            AUTO_ORDER.insert(0, backend.name)
        else:
            AUTO_ORDER.append(backend.name)


@contextmanager
def registered_backend(backend: Backend, *, prefer: bool = False) -> Iterator[Backend]:
    """Register ``backend`` for the ``with`` block only (benchmarks, experiments, tests).

    On leaving the block, even by an exception, the registry is as it was: the name is
    removed again, or the back-end it shadowed is back, and :data:`AUTO_ORDER` is unchanged.

    Examples
    --------
    >>> with registered_backend(Backend("mine", F.adlif_scan, lambda device: True)):
    ...     resolve_backend("mine", torch.device("cpu")).name
    'mine'
    >>> "mine" in BACKENDS
    False
    """
    shadowed = BACKENDS.get(backend.name)
    ordered = backend.name in AUTO_ORDER
    register_backend(backend, prefer=prefer)
    try:
        yield backend
    finally:
        if shadowed is None:
            BACKENDS.pop(backend.name, None)
        else:
            BACKENDS[backend.name] = shadowed
        if not ordered and backend.name in AUTO_ORDER:
            AUTO_ORDER.remove(backend.name)


register_backend(
    Backend("reference", F.adlif_scan, lambda device: True, F.leaky_integrator_scan)
)


def check_backend(name: str) -> str:
    """Validate a back-end name at construction time; returns it unchanged."""
    if name != "auto" and name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose 'auto' or one of {sorted(BACKENDS)}")
    return name


def resolve_backend(name: str, device: torch.device) -> Backend:
    """Return the back-end object for ``name`` on ``device``.

    An explicitly named back-end that cannot run on ``device`` raises instead of
    silently falling back to another one.
    """
    check_backend(name)
    if name == "auto":
        for candidate in AUTO_ORDER:
            backend = BACKENDS[candidate]
            if backend.available(device):
                return backend
        raise RuntimeError(f"no neuron back-end is available on {device}")
    backend = BACKENDS[name]
    if not backend.available(device):
        raise RuntimeError(f"neuron back-end {name!r} is not available on {device}")
    return backend


def adlif(
    x: Tensor,
    p: AdLIFParameters,
    recurrent: Tensor | None = None,
    state: AdLIFState | None = None,
    *,
    variant: str = "sparse",
    surrogate: str = "boxcar",
    return_traces: bool = False,
    backend: str = "reference",
) -> ScanResult:
    """Scan an adaptive LIF population over time with the chosen back-end.

    Arguments as :func:`sparse.neurons.functional.adlif_scan`; ``x`` is ``(B, T, N)``.
    """
    impl = resolve_backend(backend, x.device)
    return impl.adlif(
        x, p, recurrent, state, variant=variant, surrogate=surrogate, return_traces=return_traces
    )


def leaky_integrator(
    x: Tensor, alpha: Tensor, u0: Tensor | None = None, *, backend: str = "reference"
) -> Tensor:
    """Membrane potentials ``(B, T, N)`` of a non-spiking LIF population, ``x`` ``(B, T, N)``."""
    impl = resolve_backend(backend, x.device)
    fn = impl.leaky_integrator or F.leaky_integrator_scan
    return fn(x, alpha, u0)


def dense_feedforward(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                      dropout: float = 0.0, training: bool = False) -> Tensor:
    """``linear(dropout(x), weight, bias)``: the reference feed-forward product.

    ``x`` ``(..., I)``, ``weight`` ``(O, I)``, ``bias`` ``(O,)``; ``dropout`` is the
    probability of :class:`torch.nn.Dropout`, applied when ``training`` (same random draws).
    Without a gradient on CPU each row is summed on its own
    (:func:`sparse.neurons.framewise.linear`): a stream fed in chunks sums as the whole.
    """
    x = torch.nn.functional.dropout(x, dropout, training)
    return framewise.linear(x, weight, bias)


def feedforward(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, *, dropout: float = 0.0,
    training: bool = False, backend: str = "reference",
) -> Tensor:
    """Input current ``dropout(x) @ weight.T + bias`` ``(..., O)`` of a layer fed with spikes
    ``x`` ``(..., I)``, by the chosen back-end (the ``cpu`` back-end skips the zeros of ``x``,
    the others take the dense product :func:`dense_feedforward`)."""
    impl = resolve_backend(backend, x.device)
    fn = impl.feedforward or dense_feedforward
    return fn(x, weight, bias, dropout, training)
