r"""SpArch non-spiking baselines: MLP, RNN, LiGRU and GRU layers and ``ANN``.

Every layer projects its input once per gate for all steps (``nn.Linear``, bias =
``use_bias``), normalises each projection over ``(B*T, H)`` (BatchNorm momentum 0.05 or
LayerNorm), runs its recursion from a zero state with orthogonal recurrent matrices (no
bias) and applies dropout to its output:

* MLP: :math:`y_t = \sigma(\mathrm{BN}(W x)_t)`
* RNN: :math:`y_t = \sigma(\mathrm{BN}(W x)_t + V y_{t-1})`
* LiGRU: :math:`z_t = \sigma(\mathrm{BN}_z(W_z x)_t + V_z y_{t-1})`,
  :math:`c_t = \mathrm{ReLU}(\mathrm{BN}(W x)_t + V y_{t-1})`,
  :math:`y_t = z_t y_{t-1} + (1 - z_t) c_t`
* GRU: :math:`z_t, r_t = \sigma(\mathrm{BN}(W x)_t + V y_{t-1})` per gate,
  :math:`c_t = \tanh(\mathrm{BN}(W x)_t + V (r_t \odot y_{t-1}))`,
  :math:`y_t = z_t y_{t-1} + (1 - z_t) c_t`

Which implementation:

* **LiGRU** is SpeechBrain's :class:`speechbrain.nnet.RNN.LiGRU` (one layer, unidirectional;
  our wrapper does the bidirectional batch-concatenation so padding can be handled). Its
  equations are SpArch's: one ``Linear(I, 2H)`` is the two gate projections side by side,
  its ``BatchNorm1d(2H, momentum=0.05)`` normalises each channel separately (= one BN per
  gate), ``u = Linear(H, 2H)`` holds ``V`` and ``V_z``. Adjustments: SpeechBrain's
  recurrent dropout is disabled (dropout is on the output, as in SpArch); its ``bias``
  flag (which freezes the BN shift) is kept on, and ``use_bias=True`` swaps in a biased
  input projection; ``normalization="none"`` replaces the norm by an identity (SpeechBrain
  silently falls back to LayerNorm); the dropout-mask buffer is not saved in checkpoints.
  Initialisation differs slightly: SpeechBrain orthogonalises the stacked ``(2H, H)``
  recurrent matrix instead of each ``(H, H)`` block.
* **GRU** cannot be ``torch.nn.GRU`` (or SpeechBrain's GRU, which wraps it): they apply the
  reset gate *after* the recurrent product, ``r_t \odot (V y_{t-1})``, and have no
  per-gate normalisation. Written here.
* **RNN** uses a sigmoid, which ``torch.nn.RNN`` does not offer (tanh/ReLU). Written here.

The readout (``use_readout_layer=True``) averages the softmax of the last hidden layer
over valid steps (SpArch sums it), applies ``norm(W .)`` and returns class probabilities
(softmax), so ``SNN`` and ``ANN`` share one loss: the NLL of the log output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import check_portion, check_positive
from ..neurons.defaults import SPARCH
from ..neurons.modules import apply_norm, make_norm
from .common import bidirectional_scan, flatten_input, input_size_of, masked_time_mean, valid_steps

__all__ = ["MLPLayer", "RNNLayer", "LiGRULayer", "GRULayer", "ReadoutLayerANN", "ANN_TYPES", "ANN"]


class _ANNLayer(nn.Module):
    """Common constructor: sizes, normalisation factory, dropout, bidirectional flag."""

    def __init__(self, input_size: int, hidden_size: int, dropout: float, normalization: str,
                 use_bias: bool, bidirectional: bool) -> None:
        super().__init__()
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.normalization, self.use_bias = normalization, bool(use_bias)
        self.bidirectional = bool(bidirectional)
        self.drop = nn.Dropout(check_portion("dropout", dropout))

    @property
    def output_size(self) -> int:
        """Features per step of the output: ``H`` or ``2H``."""
        return self.hidden_size * (1 + self.bidirectional)

    def _projection(self) -> tuple[nn.Linear, nn.Module]:
        return (nn.Linear(self.input_size, self.hidden_size, bias=self.use_bias),
                make_norm(self.normalization, self.hidden_size))

    def _recurrent(self) -> nn.Linear:
        v = nn.Linear(self.hidden_size, self.hidden_size, bias=False)
        nn.init.orthogonal_(v.weight)
        return v

    def _run(self, x: Tensor) -> Tensor:  # (B, T, I) -> (B, T, H)
        raise NotImplementedError

    def forward(self, x: Tensor, n_valid: Tensor | None = None) -> Tensor:
        """``(B, T, I) -> (B, T, output_size)`` after dropout; ``n_valid`` ``(B,)`` valid steps."""
        y = bidirectional_scan(self._run, x, n_valid) if self.bidirectional else self._run(x)
        return self.drop(y)


class MLPLayer(_ANNLayer):
    """Feed-forward layer ``y_t = sigmoid(norm(W x)_t)``; cannot be bidirectional."""

    def __init__(self, input_size: int, hidden_size: int, dropout: float = 0.0,
                 normalization: str = "batchnorm", use_bias: bool = False,
                 bidirectional: bool = False) -> None:
        if bidirectional:
            raise ValueError("an MLP layer cannot be bidirectional")
        super().__init__(input_size, hidden_size, dropout, normalization, use_bias, False)
        self.W, self.norm = self._projection()

    def _run(self, x: Tensor) -> Tensor:
        return torch.sigmoid(apply_norm(self.norm, self.W(x)))


class RNNLayer(_ANNLayer):
    """Elman layer with sigmoid ``y_t = sigmoid(norm(W x)_t + V y_{t-1})``."""

    def __init__(self, input_size: int, hidden_size: int, dropout: float = 0.0,
                 normalization: str = "batchnorm", use_bias: bool = False,
                 bidirectional: bool = False) -> None:
        super().__init__(input_size, hidden_size, dropout, normalization, use_bias, bidirectional)
        self.W, self.norm = self._projection()
        self.V = self._recurrent()

    def _run(self, x: Tensor) -> Tensor:
        wx = apply_norm(self.norm, self.W(x))
        y = wx.new_zeros(wx.shape[0], wx.shape[2])
        out = []
        for t in range(wx.shape[1]):
            y = torch.sigmoid(wx[:, t] + self.V(y))
            out.append(y)
        return torch.stack(out, dim=1)


class GRULayer(_ANNLayer):
    """SpArch GRU: reset gate applied *before* the recurrent product (see module docstring)."""

    def __init__(self, input_size: int, hidden_size: int, dropout: float = 0.0,
                 normalization: str = "batchnorm", use_bias: bool = False,
                 bidirectional: bool = False) -> None:
        super().__init__(input_size, hidden_size, dropout, normalization, use_bias, bidirectional)
        self.W, self.norm = self._projection()
        self.Wz, self.normz = self._projection()
        self.Wr, self.normr = self._projection()
        self.V, self.Vz, self.Vr = self._recurrent(), self._recurrent(), self._recurrent()

    def _run(self, x: Tensor) -> Tensor:
        wx = apply_norm(self.norm, self.W(x))
        wz = apply_norm(self.normz, self.Wz(x))
        wr = apply_norm(self.normr, self.Wr(x))
        y = wx.new_zeros(wx.shape[0], wx.shape[2])
        out = []
        for t in range(wx.shape[1]):
            z = torch.sigmoid(wz[:, t] + self.Vz(y))
            r = torch.sigmoid(wr[:, t] + self.Vr(y))
            c = torch.tanh(wx[:, t] + self.V(r * y))
            y = z * y + (1 - z) * c
            out.append(y)
        return torch.stack(out, dim=1)


class LiGRULayer(_ANNLayer):
    """Light GRU through SpeechBrain's :class:`~speechbrain.nnet.RNN.LiGRU` (see module doc)."""

    def __init__(self, input_size: int, hidden_size: int, dropout: float = 0.0,
                 normalization: str = "batchnorm", use_bias: bool = False,
                 bidirectional: bool = False) -> None:
        super().__init__(input_size, hidden_size, dropout, normalization, use_bias, bidirectional)
        from speechbrain.nnet.RNN import LiGRU  # lazy: `import sparse` stays free of speechbrain

        make_norm(normalization, 1)  # validate the name the way the other layers do
        self.ligru = LiGRU(self.hidden_size, input_shape=(1, 1, self.input_size),
                           nonlinearity="relu", normalization=normalization, num_layers=1,
                           bias=True, dropout=0.0, re_init=True, bidirectional=False)
        cell = self.ligru.rnn[0]
        if normalization in ("none", "", None):
            cell.norm = nn.Identity()
        if use_bias:
            cell.w = nn.Linear(self.input_size, 2 * self.hidden_size, bias=True)
        # all-ones masks (dropout 0): derived state, keep it out of checkpoints
        cell.register_buffer("drop_masks", cell.drop_masks, persistent=False)

    def _run(self, x: Tensor) -> Tensor:
        return self.ligru(x)[0]


#: Layer class per ``ann_type``.
ANN_TYPES: dict[str, type[_ANNLayer]] = {
    "MLP": MLPLayer, "RNN": RNNLayer, "LiGRU": LiGRULayer, "GRU": GRULayer,
}


class ReadoutLayerANN(nn.Module):
    """``(B, T, I) -> (B, C)`` probabilities: ``softmax(norm(W mean_t softmax(h_t)))``.

    SpArch sums the per-step softmax over time; the mean makes the input of ``W``
    independent of the sequence length (with BatchNorm the two are equivalent up to scale).
    """

    def __init__(self, input_size: int, output_size: int, normalization: str = "batchnorm",
                 use_bias: bool = False) -> None:
        super().__init__()
        self.W = nn.Linear(int(input_size), int(output_size), bias=use_bias)
        self.norm = make_norm(normalization, int(output_size))

    def forward(self, x: Tensor, n_valid: Tensor | None = None) -> Tensor:
        """Class probabilities ``(B, C)`` for hidden outputs ``x`` ``(B, T, I)``."""
        y = masked_time_mean(torch.softmax(x, dim=-1), n_valid)
        return torch.softmax(self.norm(self.W(y)), dim=-1)


class ANN(nn.Module):
    """Multi-layer SpArch ANN baseline with the call signature of :class:`~sparse.SNN`.

    Parameters
    ----------
    input_shape : sequence of int
        ``(B, T, F)`` or ``(B, T, F, C)``.
    layer_sizes : sequence of int
        Units per layer, the last one being the readout when ``use_readout_layer``.
    ann_type : str
        ``"MLP"``, ``"RNN"``, ``"LiGRU"`` or ``"GRU"``.
    dropout, normalization, use_bias, bidirectional, use_readout_layer
        As in :class:`~sparse.SNN` (an MLP cannot be bidirectional).
    dt : float
        Milliseconds per input frame, as :class:`~sparse.SNN`'s (inference reads durations
        from it; the computation does not depend on it).

    Returns (from ``forward``)
    --------------------------
    output : Tensor
        ``(B, C)`` class probabilities with a readout, else ``(B, T, layer_sizes[-1])``.
    firing_rates : None
        Kept so that ``ANN`` and ``SNN`` are interchangeable.

    Examples
    --------
    >>> model = ANN((4, 30, 20), [16, 16, 10], ann_type="LiGRU", bidirectional=True)
    >>> y, rates = model(torch.rand(4, 30, 20))
    >>> y.shape, rates
    (torch.Size([4, 10]), None)
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        layer_sizes: Sequence[int],
        ann_type: str = "MLP",
        dropout: float = 0.0,
        normalization: str = "batchnorm",
        use_bias: bool = False,
        bidirectional: bool = False,
        use_readout_layer: bool = True,
        dt: float = SPARCH.dt,
    ) -> None:
        super().__init__()
        self.dt = check_positive("dt", dt)  # ms per input frame (durations at inference)
        if ann_type not in ANN_TYPES:
            raise ValueError(f"invalid ann_type {ann_type!r}; choose one of {list(ANN_TYPES)}")
        sizes = [int(s) for s in layer_sizes]
        if not sizes or (use_readout_layer and len(sizes) < 2):
            raise ValueError(f"layer_sizes needs a hidden layer (+ readout), got {sizes}")
        self.input_size = input_size_of(input_shape)
        self.layer_sizes, self.ann_type = sizes, ann_type
        hidden = sizes[:-1] if use_readout_layer else sizes
        layers: list[nn.Module] = []
        size = self.input_size
        for h in hidden:
            layer = ANN_TYPES[ann_type](size, h, dropout, normalization, use_bias, bidirectional)
            layers.append(layer)
            size = layer.output_size
        if use_readout_layer:
            layers.append(ReadoutLayerANN(size, sizes[-1], normalization, use_bias))
        self.ann = nn.ModuleList(layers)

    def project_parameters_(self) -> None:
        """No constrained parameters (present so recipes treat ``SNN`` and ``ANN`` alike)."""

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, None]:
        """Run the network; ``lengths`` ``(B,)`` relative lengths in ``(0, 1]`` or ``None``."""
        x = flatten_input(x)
        n_valid = None
        if lengths is not None:
            n_valid = valid_steps(lengths, x.shape[0], x.shape[1], x.device)
        for layer in self.ann:
            x = layer(x, n_valid)
        return x, None
