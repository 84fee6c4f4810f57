"""``nn.Module`` wrappers of the neuron dynamics: they own parameters and masks, call the engine.

Parameter constraints are applied *out of place* in every forward pass
(:meth:`AdLIFNeurons.effective_parameters`), so autograd sees them and the
stored parameters are never overwritten inside ``forward``. Training loops may
call :meth:`AdLIFNeurons.project_parameters_` after each optimiser step to keep
the raw parameters inside their ranges (projected gradient descent); this is
what SPARSE's in-place clipping amounted to, done at the right place.

Masks are registered buffers: they are saved in and restored from the
``state_dict`` (upstream SPARSE redraws them on reload).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import check_portion, check_range, check_rank3
from . import engine
from .defaults import BACKEND, POPULATION, READOUT_ALPHA_LIM, adlif_config
from .state import AdLIFConfig, AdLIFParameters, AdLIFState, NeuronConstants, ScanResult

__all__ = ["connection_mask", "AdLIFNeurons", "ReadoutLayer", "SpikingNeurons"]


def connection_mask(
    in_features: int,
    out_features: int,
    portion: float,
    lateral: bool = False,
    zero_diagonal: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Boolean connectivity mask ``(out_features, in_features)`` as in SPARSE.

    * square and ``lateral``: ones on every diagonal with offset in ``[-r, r]``,
      ``r = int(portion * N / 2)`` (a band of neighbours);
    * square, not lateral: exactly ``int(portion * N**2)`` ones at random places;
    * non-square: i.i.d. Bernoulli(``portion``) entries (``lateral`` is an error).

    ``zero_diagonal`` removes self-connections afterwards, so the realised
    density of a recurrent mask is slightly below ``portion`` (as upstream).

    Examples
    --------
    >>> connection_mask(5, 5, 0.4, lateral=True).int().tolist()[0]
    [1, 1, 0, 0, 0]
    >>> int(connection_mask(10, 10, 0.3).sum())
    30
    """
    check_portion("portion", portion)
    if in_features == out_features:
        n = in_features
        if lateral:
            r = int(portion * n / 2)
            idx = torch.arange(n)
            mask = (idx[:, None] - idx[None, :]).abs() <= r
        else:
            flat = torch.zeros(n * n, dtype=torch.bool)
            flat[torch.randperm(n * n, generator=generator)[: int(portion * n * n)]] = True
            mask = flat.view(n, n)
    else:
        if lateral:
            raise ValueError(
                "lateral connectivity needs a square mask (in_features == out_features)"
            )
        mask = torch.rand(out_features, in_features, generator=generator) < portion
    if zero_diagonal:
        mask.fill_diagonal_(False)
    return mask


def _uniform_or_normal_(t: Tensor, lo: float, hi: float, normal: bool) -> None:
    """SPARSE initialisation: U[lo, hi), or N(mean=(lo+hi)/2, std=(hi-mean)/3)."""
    with torch.no_grad():
        if normal:
            mean = (lo + hi) / 2
            t.normal_(mean, (hi - mean) / 3)
        else:
            t.uniform_(lo, hi)


def _config_field(name: str, doc: str) -> property:
    """A field of the module's :class:`AdLIFConfig` ``neuron``, readable and settable."""

    def get(self) -> Any:
        return getattr(self.neuron, name)

    def put(self, value: Any) -> None:
        self.neuron = adlif_config(self.neuron, keys={name: value}, owner=type(self).__name__)

    return property(get, put, doc=doc)


class AdLIFNeurons(nn.Module):
    """Population of SPARSE adaptive LIF neurons, a share of them plain LIF.

    The input is the current itself (no weights): ``(B, T, N) -> (B, T, N)`` spikes.
    ``round(sfa_portion * N)``-many (``int``, as upstream) randomly chosen neurons
    are adaptive (AdLIF); the rest have ``a = b = 0`` (LIF). With
    ``rnn_portion > 0`` a masked recurrent matrix ``V`` (``N x N``, no
    self-connections) feeds back the previous spikes.

    Parameters
    ----------
    num_neurons : int
        ``N``.
    sfa_portion : float
        Share of adaptive neurons, in ``[0, 1]`` (LIF share = ``1 - sfa_portion``).
    rnn_portion : float
        Density of the recurrent mask in ``[0, 1]``; 0 means no recurrent weights.
    use_lateral_rnn : bool
        Banded (neighbour) recurrent mask instead of a random one.
    dropout : float
        Element-wise dropout on the input current.
    neuron : AdLIFConfig or dict, optional
        The neuron arguments as one object (:class:`~sparse.neurons.state.AdLIFConfig`), or
        some of them by name; the rest keep the defaults of the ``POPULATION`` family
        (:mod:`sparse.neurons.defaults`).
    **neuron_args
        The same arguments one by one, as YAML files give them (they win over ``neuron``):
        ``tauu_lim``, ``tauw_lim`` (ms) and ``a_lim``, ``b_lim``: ranges of the time
        constants and couplings, ``a`` further bounded per neuron by
        ``(tau_w - tau_u)^2 / (4 tau_u tau_w) - 1e-5`` to keep the linear sub-threshold
        dynamics non-oscillatory (real eigenvalues); ``use_normal_init``: normal instead of
        uniform initialisation within the ranges; ``threshold``; ``dt``: step size in ms (the
        feature hop, 2 ms at 500 frames/s); ``surrogate``: surrogate gradient name;
        ``backend``: engine back-end (``"auto"``, ``"reference"``, ``"cpu"``, ``"triton"``).

    Notes
    -----
    Defaults are those of upstream ``SpikingNeurons`` (dt 10 ms, τw ≤ 350 ms,
    a ∈ [-0.5, 5], b ≤ 2, uniform, rnn 0.01, lateral: the ``POPULATION`` family of
    :mod:`sparse.neurons.defaults`), which differ from the layer defaults of
    :class:`~sparse.MultilayeredSpiking`; the encoders pass their own configuration.

    Examples
    --------
    >>> neurons = AdLIFNeurons(16, sfa_portion=0.5, rnn_portion=0.2, dt=2.0)
    >>> neurons(torch.rand(4, 30, 16) * 2).shape
    torch.Size([4, 30, 16])
    >>> int(neurons.sfa_mask.sum()), neurons.neuron.dt, neurons.tauw_lim
    (8, 2.0, (30.0, 350.0))
    """

    def __init__(
        self,
        num_neurons: int,
        sfa_portion: float = 0.5,
        rnn_portion: float = 0.01,
        use_lateral_rnn: bool = True,
        dropout: float = 0.0,
        neuron: AdLIFConfig | Mapping[str, Any] | None = None,
        **neuron_args: Any,
    ) -> None:
        super().__init__()
        if int(num_neurons) < 1:
            raise ValueError(f"num_neurons must be >= 1, got {num_neurons}")
        self.num_neurons = n = int(num_neurons)
        self.sfa_portion = check_portion("sfa_portion", sfa_portion)
        self.rnn_portion = check_portion("rnn_portion", rnn_portion)
        check_portion("dropout", dropout)
        self.neuron = adlif_config(POPULATION, neuron, neuron_args, owner=type(self).__name__)
        self.dropout = nn.Dropout(dropout)

        self.tau_u = nn.Parameter(torch.empty(n))
        self.tau_w = nn.Parameter(torch.empty(n))
        self.a = nn.Parameter(torch.empty(n))
        self.b = nn.Parameter(torch.empty(n))
        for param, lim in ((self.tau_u, self.tauu_lim), (self.tau_w, self.tauw_lim),
                           (self.a, self.a_lim), (self.b, self.b_lim)):
            _uniform_or_normal_(param, *lim, normal=self.neuron.use_normal_init)

        sfa_mask = torch.zeros(n, dtype=torch.bool)
        sfa_mask[torch.randperm(n)[: int(self.sfa_portion * n)]] = True
        self.register_buffer("sfa_mask", sfa_mask)
        if self.rnn_portion > 0:
            self.V = nn.Parameter(torch.empty(n, n))
            nn.init.kaiming_uniform_(self.V, a=math.sqrt(5))  # nn.Linear's default
            mask = connection_mask(n, n, self.rnn_portion, use_lateral_rnn, zero_diagonal=True)
            self.register_buffer("rnn_mask", mask)
        else:
            self.register_parameter("V", None)
            self.register_buffer("rnn_mask", None)
        self.project_parameters_()

    # the fields of the configuration, as attributes (set: checked, the configuration replaced)
    tauu_lim = _config_field("tauu_lim", "Membrane time-constant range, ms.")
    tauw_lim = _config_field("tauw_lim", "Adaptation time-constant range, ms.")
    a_lim = _config_field("a_lim", "Range of ``a``.")
    b_lim = _config_field("b_lim", "Range of ``b``.")
    threshold = _config_field("threshold", "Firing threshold.")
    dt = _config_field("dt", "Step size, ms.")
    surrogate = _config_field("surrogate", "Surrogate gradient name.")
    backend = _config_field("backend", "Engine back-end (e.g. set by "
                                       ":func:`sparse.neurons.network.set_backend`).")

    def effective_parameters(self) -> NeuronConstants:
        """Constrained ``tau_u, tau_w`` (ms), ``a, b`` each ``(N,)``, masked for LIF neurons.

        Differentiable and out of place: the stored parameters are not modified.
        """
        tau_u = self.tau_u.clamp(*self.tauu_lim)
        tau_w = self.tau_w.clamp(*self.tauw_lim)
        sfa = self.sfa_mask.to(tau_u.dtype)
        b = self.b.clamp(*self.b_lim) * sfa
        # Upper bound of a that keeps the eigenvalues real; a constraint, not a learnable path.
        a_hi = ((tau_w - tau_u) ** 2 / (4 * tau_u * tau_w) - 1e-5).detach().clamp(max=self.a_lim[1])
        a = self.a.clamp(min=self.a_lim[0])
        a = torch.where(a > a_hi, a_hi, a) * sfa
        return NeuronConstants(tau_u, tau_w, a, b)

    def recurrent_weights(self) -> Tensor | None:
        """Masked recurrent matrix ``(N, N)`` (zero diagonal), or ``None`` without recurrence."""
        return None if self.V is None else self.V * self.rnn_mask

    def scan_parameters(self) -> AdLIFParameters:
        """Per-step constants ``alpha = exp(-dt/tau_u)``, ``beta = exp(-dt/tau_w)``, ``a, b``."""
        c = self.effective_parameters()
        return AdLIFParameters(
            torch.exp(-self.dt / c.tau_u), torch.exp(-self.dt / c.tau_w), c.a, c.b, self.threshold
        )

    @torch.no_grad()
    def project_parameters_(self) -> None:
        """Write the constrained values back into the parameters (call after an optimiser step)."""
        c = self.effective_parameters()
        for param, value in ((self.tau_u, c.tau_u), (self.tau_w, c.tau_w), (self.a, c.a),
                             (self.b, c.b)):
            param.copy_(value)
        if self.V is not None:
            self.V.mul_(self.rnn_mask)

    def initial_state(self, batch: int) -> AdLIFState:
        """Zero membrane, adaptation and spikes, each ``(batch, N)`` (device and dtype of the
        parameters): the state before the first step."""
        u, w, s = (self.tau_u.new_zeros(batch, self.num_neurons) for _ in range(3))
        return AdLIFState(u, w, s)

    def forward(
        self, x: Tensor, state: AdLIFState | None = None, return_state: bool = False
    ) -> Tensor | ScanResult:
        """Spikes ``(B, T, N)`` for input currents ``x`` ``(B, T, N)``.

        ``state`` (default: :meth:`initial_state`) is the state before the first step. With
        ``return_state=True`` the full :class:`~sparse.neurons.state.ScanResult` (spikes and
        final state, to continue from) is returned instead.
        """
        check_rank3(x, type(self).__name__)
        if x.shape[-1] != self.num_neurons:
            raise ValueError(f"expected {self.num_neurons} input features, got {x.shape[-1]}")
        out = engine.adlif(
            self.dropout(x), self.scan_parameters(), self.recurrent_weights(), state,
            variant="sparse", surrogate=self.surrogate, backend=self.backend,
        )
        return out if return_state else out.spikes

    def extra_repr(self) -> str:  # noqa: D102
        return (f"{self.num_neurons}, sfa_portion={self.sfa_portion}, "
                f"rnn_portion={self.rnn_portion}, dt={self.dt}, backend={self.backend!r}")


#: Upstream SPARSE name of :class:`AdLIFNeurons`.
SpikingNeurons = AdLIFNeurons


def make_norm(kind: str, features: int) -> nn.Module:
    """``"batchnorm"`` (momentum 0.05) / ``"layernorm"`` / ``"none"`` over the last axis."""
    if kind == "batchnorm":
        return nn.BatchNorm1d(features, momentum=0.05)
    if kind == "layernorm":
        return nn.LayerNorm(features)
    if kind in ("none", "", None):
        return nn.Identity()
    raise ValueError(f"normalization must be 'batchnorm', 'layernorm' or 'none', got {kind!r}")


def apply_norm(norm: nn.Module, x: Tensor) -> Tensor:
    """Apply ``norm`` to ``(B, T, F)`` over the flattened ``(B*T, F)`` frames."""
    b, t, f = x.shape
    return norm(x.reshape(b * t, f)).reshape(b, t, f)


class ReadoutLayer(nn.Module):
    """Non-spiking LIF readout: ``(B, T, I) -> (B, 1, H)`` softmax summed (or averaged) over time.

    ``I_t = norm(W x_t)``; ``u_t = alpha u_{t-1} + (1 - alpha) I_t`` from ``u_0 = 0``;
    ``out = sum_t softmax(u_t)`` over the ``H`` neurons. With ``reduction="mean"``
    the sum is divided by ``T``, giving a probability distribution whose log is a
    proper log-likelihood for ``nll_loss``.

    Upstream draws ``u_0 ~ U[0, 1)`` at every call (non-deterministic evaluation) and
    ignores ``dropout``; here ``u_0 = 0`` and ``dropout`` is applied to the input.
    ``alpha`` is learnt in ``alpha_lim``, by default upstream's ``[exp(-1/5), exp(-1/25)]``
    (time constants of 5 to 25 steps, whatever the step length).

    Examples
    --------
    >>> readout = ReadoutLayer(8, 5, reduction="mean")
    >>> out = readout(torch.rand(2, 40, 8))
    >>> out.shape, torch.allclose(out.sum(-1), torch.ones(2, 1))
    (torch.Size([2, 1, 5]), True)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        dropout: float = 0.0,
        normalization: str = "batchnorm",
        use_bias: bool = True,
        reduction: str = "sum",
        backend: str = BACKEND,
        alpha_lim: Sequence[float] = READOUT_ALPHA_LIM,
    ) -> None:
        super().__init__()
        lo, hi = check_range("alpha_lim", alpha_lim)  # a pair, low <= high
        if not 0.0 < lo <= hi < 1.0:
            raise ValueError(f"alpha_lim must satisfy 0 < low <= high < 1, got {list(alpha_lim)}")
        self.alpha_lim = (lo, hi)
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        check_portion("dropout", dropout)
        self.reduction = reduction
        self.backend = engine.check_backend(backend)
        self.dropout = nn.Dropout(dropout)
        self.W = nn.Linear(input_size, hidden_size, bias=use_bias)
        self.norm = make_norm(normalization, hidden_size)
        self.alpha = nn.Parameter(torch.empty(hidden_size).uniform_(lo, hi))

    def initial_state(self, batch: int) -> Tensor:
        """Zero potentials ``(batch, H)``: the state before the first step."""
        return self.alpha.new_zeros(batch, self.alpha.numel())

    def potentials(self, x: Tensor, u0: Tensor | None = None) -> Tensor:
        """Membrane potentials ``(B, T, H)`` for input ``x`` ``(B, T, I)``.

        ``u0`` ``(B, H)``: the potentials before the first step (default zero); the last
        step's potentials continue a stream.
        """
        check_rank3(x, type(self).__name__)
        current = engine.feedforward(x, self.W.weight, self.W.bias, dropout=self.dropout.p,
                                     training=self.dropout.training, backend=self.backend)
        current = apply_norm(self.norm, current)
        alpha = self.alpha.clamp(*self.alpha_lim)
        return engine.leaky_integrator(current, alpha, u0, backend=self.backend)

    def reduce(self, potentials: Tensor) -> Tensor:
        """``(B, 1, H)``: softmax of ``potentials`` ``(B, T, H)`` summed or averaged over time."""
        out = torch.softmax(potentials, dim=-1).sum(dim=1, keepdim=True)
        return out / potentials.shape[1] if self.reduction == "mean" else out

    @torch.no_grad()
    def project_parameters_(self) -> None:
        """Clamp ``alpha`` into its range in place (call after an optimiser step)."""
        self.alpha.clamp_(*self.alpha_lim)

    def forward(self, x: Tensor) -> Tensor:
        """Softmax of the potentials summed (``"sum"``) or averaged (``"mean"``) over time."""
        return self.reduce(self.potentials(x))
