r"""Synaptic operations and energy of a spiking network, per population and per second of audio.

Pure functions over spike trains and a model's effective weights:

* :func:`network_of` reads a model into a :class:`Network`: its populations (neurons, how many
  are LIF / adaptive / non-spiking integrators), its projections (for every source neuron,
  the number of effective synapses leaving it: masks applied, zero weights not counted) and
  its dense, non-spiking stages (the nerve's convolution, the phoneme head, ...).
* :func:`count_operations` counts, over the valid steps of a batch, what the network did:
  spikes, synaptic operations (each spike times its effective fan-out), neuron updates, and
  what the same layers would cost as a dense ANN.
* :class:`EnergyModel` turns operation counts into an energy estimate.

Operation model (one number per operation, each written once here)
------------------------------------------------------------------
* **Synaptic operation** (accumulate, AC): a spike of neuron ``j`` adds ``W[i, j]`` to the
  input current of every target ``i`` with a non-zero effective weight. Per population,
  ``synaptic_ops = sum_j spikes_j * fan_out_j`` over all its outgoing projections
  (feed-forward and recurrent; a bidirectional SpArch layer counts both directions).
* **Neuron update**, per neuron and step, for the leak and the integration (batch norm and
  bias fold into the weights at inference): LIF ``u <- alpha u + I`` is 1 MAC, plus 1 AC for
  the threshold comparison; adaptive LIF adds ``- (1 - alpha) w`` and
  ``w <- beta w + (1 - beta) a u``, 4 MACs + 1 AC; a non-spiking leaky integrator (readout)
  is 1 MAC. Spike resets (one add per spike) are not counted.
* **Dense stage**: MACs of non-spiking layers (convolution, linear head, classifier),
  identical in the SNN and its ANN equivalent. Real-valued (non-binary) input to a
  projection costs one MAC per effective synapse per step.
* **ANN equivalent**: the same layers with real-valued activations, every connection of
  every projection as a dense matrix (masks ignored), one MAC per synapse per step, plus
  the dense stages. Neuron non-linearities are not counted.

Energy: ``E_SNN = e_AC * ACs + e_MAC * MACs`` and ``E_ANN = e_MAC * ANN MACs``. Memory
accesses are not counted; they often dominate on real hardware, so read the ratio as the
arithmetic advantage of sparse events, not as a hardware measurement.

Examples
--------
>>> from sparse import MultilayeredSpiking
>>> net = MultilayeredSpiking(4, [3], [0.0], [0.0], [1.0], dt=1.0)
>>> network = network_of(net)
>>> [p.name for p in network.populations], network.projections[0].source
(['layer1'], 'input')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import Tensor, nn

__all__ = ["EnergyModel", "Population", "Projection", "DenseStage", "Network", "Row",
           "Efficiency", "network_of", "count_operations", "UPDATE_COST"]

#: ``(MACs, ACs)`` per neuron and step, by neuron kind (see the module docstring).
UPDATE_COST: dict[str, tuple[int, int]] = {"lif": (1, 1), "adlif": (4, 1), "integrator": (1, 0)}


@dataclass(frozen=True)
class EnergyModel:
    """Energy per arithmetic operation, in picojoules.

    Defaults: 32-bit floating point in a 45 nm process, M. Horowitz, "Computing's energy
    problem (and what we can do about it)", IEEE ISSCC 2014, pp. 10-14,
    doi:10.1109/ISSCC.2014.6757323: an add is 0.9 pJ and a multiply 3.7 pJ, so a
    multiply-accumulate is 4.6 pJ. Pass other values for other number formats or processes
    (e.g. 8-bit integers: 0.03 pJ add, 0.2 pJ multiply in the same table).
    """

    ac_pj: float = 0.9
    mac_pj: float = 4.6
    source: str = "Horowitz, ISSCC 2014: 32-bit float, 45 nm"

    def __post_init__(self) -> None:
        if self.ac_pj < 0 or self.mac_pj < 0:
            raise ValueError(f"energies must be >= 0 pJ, got {self.ac_pj}, {self.mac_pj}")


@dataclass(frozen=True)
class Population:
    """A group of neurons updated every step: ``lif + adlif + integrator`` neurons."""

    name: str
    lif: int = 0
    adlif: int = 0
    integrator: int = 0

    @property
    def size(self) -> int:
        """Number of neurons."""
        return self.lif + self.adlif + self.integrator


@dataclass(frozen=True)
class Projection:
    """Synapses from ``source`` (a population, or ``"input"``) to ``target``.

    ``fan_out`` ``(N_source,)``: effective synapses leaving each source neuron (non-zero
    masked weights, times the number of times the projection is applied per step);
    ``dense_synapses``: the same connection as a full matrix (times the same number).
    """

    source: str
    target: str
    fan_out: Tensor
    dense_synapses: int


@dataclass(frozen=True)
class DenseStage:
    """A non-spiking layer costing ``macs_per_step`` MACs per simulation step (on average)."""

    name: str
    macs_per_step: float


@dataclass(frozen=True)
class Network:
    """Populations, projections and dense stages of a model (see :func:`network_of`)."""

    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    dense: tuple[DenseStage, ...] = ()


@dataclass
class Row:
    """Operation counts of one population (or dense stage, or the input) over some audio.

    ``snn_acs`` = synaptic operations + neuron-update ACs; ``snn_macs`` = neuron-update MACs
    + dense MACs; ``ann_macs`` = what the ANN equivalent spends on the same row.
    """

    name: str
    neurons: int = 0
    spikes: float = 0.0
    synaptic_ops: float = 0.0
    snn_acs: float = 0.0
    snn_macs: float = 0.0
    ann_macs: float = 0.0


@dataclass
class Efficiency:
    """Operation counts over ``duration_s`` seconds of audio, per row; sums with ``+``.

    Every ``*_per_s`` figure divides a total by ``duration_s``; energies are in microjoules
    (per second of audio: microwatts).
    """

    duration_s: float
    rows: list[Row]
    energy: EnergyModel = field(default_factory=EnergyModel)

    def __add__(self, other: Efficiency) -> Efficiency:
        if [r.name for r in self.rows] != [r.name for r in other.rows]:
            raise ValueError("cannot add the operation counts of two different networks")
        rows = [Row(a.name, a.neurons, *(getattr(a, k) + getattr(b, k) for k in _SUMMED))
                for a, b in zip(self.rows, other.rows, strict=True)]
        return Efficiency(self.duration_s + other.duration_s, rows, self.energy)

    def with_energy(self, energy: EnergyModel) -> Efficiency:
        """The same counts priced with other per-operation energies."""
        return replace(self, energy=energy)

    def total(self, key: str) -> float:
        """Sum of ``key`` (a :class:`Row` field) over all rows."""
        return float(sum(getattr(r, key) for r in self.rows))

    def snn_energy_uj(self, row: Row | None = None) -> float:
        """Energy of the spiking network (or of one row), microjoules."""
        acs = self.total("snn_acs") if row is None else row.snn_acs
        macs = self.total("snn_macs") if row is None else row.snn_macs
        return (acs * self.energy.ac_pj + macs * self.energy.mac_pj) * 1e-6

    def ann_energy_uj(self, row: Row | None = None) -> float:
        """Energy of the dense ANN equivalent (or of one row), microjoules."""
        macs = self.total("ann_macs") if row is None else row.ann_macs
        return macs * self.energy.mac_pj * 1e-6

    def to_dict(self) -> dict:
        """Totals and rows, per second of audio, as plain numbers (for JSON)."""
        per_s = 1.0 / self.duration_s if self.duration_s > 0 else float("nan")

        def scaled(row: Row | None) -> dict:
            values = asdict(row) if row is not None else {k: self.total(k) for k in _SUMMED}
            out = {k + "_per_s": values[k] * per_s for k in _SUMMED}
            out["snn_energy_uj_per_s"] = self.snn_energy_uj(row) * per_s
            out["ann_energy_uj_per_s"] = self.ann_energy_uj(row) * per_s
            if row is not None:
                out["name"], out["neurons"] = row.name, row.neurons
                out["rate_hz"] = out["spikes_per_s"] / row.neurons if row.neurons else 0.0
            return out

        return {"duration_s": self.duration_s, "energy_model": asdict(self.energy),
                "total": scaled(None), "rows": [scaled(r) for r in self.rows]}

    def to_json(self) -> str:
        """:meth:`to_dict` as one line of JSON."""
        return json.dumps(self.to_dict())

    def format(self) -> str:
        """A text table: one line per row, then the totals and the SNN/ANN energy ratio."""
        d = self.to_dict()
        head = (f"{'':<12}{'neurons':>8}{'rate Hz':>9}{'spikes/s':>11}{'syn ops/s':>12}"
                f"{'SNN MAC/s':>12}{'SNN AC/s':>12}{'ANN MAC/s':>12}{'SNN uJ/s':>10}"
                f"{'ANN uJ/s':>10}")
        lines = [f"Operations per second of audio ({self.duration_s:.2f} s analysed)", head]
        for r in [*d["rows"], dict(d["total"], name="total", neurons=sum(
                r.neurons for r in self.rows), rate_hz=float("nan"))]:
            rate = "" if r["rate_hz"] != r["rate_hz"] or not r["neurons"] else f"{r['rate_hz']:.2f}"
            lines.append(
                f"{r['name']:<12}{r['neurons'] or '':>8}{rate:>9}{r['spikes_per_s']:>11.4g}"
                f"{r['synaptic_ops_per_s']:>12.4g}{r['snn_macs_per_s']:>12.4g}"
                f"{r['snn_acs_per_s']:>12.4g}{r['ann_macs_per_s']:>12.4g}"
                f"{r['snn_energy_uj_per_s']:>10.4g}{r['ann_energy_uj_per_s']:>10.4g}")
        snn, ann = self.snn_energy_uj(), self.ann_energy_uj()
        ratio = f"{ann / snn:.2f}" if snn > 0 else "inf"
        lines += [
            f"energy per op: {self.energy.ac_pj} pJ per AC, {self.energy.mac_pj} pJ per MAC "
            f"({self.energy.source}); memory accesses not counted",
            f"ANN / SNN energy: {ratio} (arithmetic only)",
        ]
        return "\n".join(lines)


_SUMMED = ("spikes", "synaptic_ops", "snn_acs", "snn_macs", "ann_macs")


def _fan_out(weight: Tensor, copies: int = 1) -> tuple[Tensor, int]:
    """Non-zero entries per column of ``weight`` ``(out, in)`` and the dense size, ``* copies``."""
    w = weight.detach()
    return (w != 0).sum(dim=0).to(torch.float64) * copies, int(w.numel()) * copies


def _projection(source: str, target: str, weight: Tensor, copies: int = 1) -> Projection:
    return Projection(source, target, *_fan_out(weight, copies))


def _adlif_population(name: str, neurons: nn.Module) -> Population:
    """Population of an :class:`~sparse.neurons.modules.AdLIFNeurons` (LIF where ``a = b = 0``)."""
    n_adaptive = int(neurons.sfa_mask.sum())
    return Population(name, lif=neurons.num_neurons - n_adaptive, adlif=n_adaptive)


def _sparse_network(model: nn.Module, classifier: nn.Module | None) -> Network:
    """SPARSE encoders: nerve fibres, cortex layers, then pooling + head or the readout."""
    from .encoders.asr import ASREncoder

    populations = model.populations()
    names = list(populations)
    pops = [_adlif_population(n, m) for n, m in populations.items()]
    projs = []
    for i, (name, module) in enumerate(populations.items()):
        recurrent = module.recurrent_weights()
        if recurrent is not None:
            projs.append(_projection(name, name, recurrent))
        if i + 1 < len(names):
            ff = model.cortex.layers[i].feedforward_weights()
            projs.append(_projection(name, names[i + 1], ff))
    conv_macs = sum(
        norm.normalized_shape[0] * conv.out_channels * conv.in_channels
        * conv.kernel_size[0] * conv.kernel_size[1]
        for conv, norm in zip(model.nerve.convs, model.nerve.norms, strict=True))
    dense = [DenseStage("conv", float(conv_macs))]
    last = names[-1]
    if isinstance(model, ASREncoder):  # spikes summed per CTC frame, then a dense head
        size = model.cortex.layer_sizes[-1]
        projs.append(Projection(last, "pool", torch.ones(size, dtype=torch.float64), size))
        linears = [m for m in model.phoneme if isinstance(m, nn.Linear)]
        dense.append(DenseStage("head", sum(m.weight.numel() for m in linears) / model.pool_size))
        if classifier is not None:
            weight = [p for p in classifier.parameters() if p.dim() == 2][0]
            dense.append(DenseStage("classifier", weight.numel() / model.pool_size))
    else:  # KWS: the last layer's spikes drive the non-spiking readout
        projs.append(_projection(last, "readout", model.readout.W.weight))
        pops.append(Population("readout", integrator=model.readout.W.out_features))
    return Network(tuple(pops), tuple(projs), tuple(dense))


def _multilayer_network(model: nn.Module) -> Network:
    """:class:`~sparse.MultilayeredSpiking` alone: the input drives ``layer1``."""
    pops, projs, source = [], [], "input"
    for i, layer in enumerate(model.layers):
        name = f"layer{i + 1}"
        projs.append(_projection(source, name, layer.feedforward_weights()))
        pops.append(_adlif_population(name, layer.neurons))
        if layer.neurons.recurrent_weights() is not None:
            projs.append(_projection(name, name, layer.neurons.recurrent_weights()))
        source = name
    return Network(tuple(pops), tuple(projs))


def _sparch_network(model: nn.Module) -> Network:
    """SpArch ``SNN``: the input drives layer 1; a bidirectional layer runs its weights twice."""
    from .neurons.modules import ReadoutLayer

    pops, projs, source = [], [], "input"
    for i, layer in enumerate(model.snn):
        if isinstance(layer, ReadoutLayer):
            projs.append(_projection(source, "readout", layer.W.weight))
            pops.append(Population("readout", integrator=layer.W.out_features))
            break
        name, copies = f"layer{i + 1}", 2 if layer.bidirectional else 1
        projs.append(_projection(source, name, layer.W.weight, copies))
        size = layer.output_size
        pops.append(Population(name, lif=0 if layer.adaptive else size,
                               adlif=size if layer.adaptive else 0))
        recurrent = layer.recurrent_matrix()
        if recurrent is not None:  # (out, in) like nn.Linear; one block per direction
            projs.append(_projection(name, name, torch.block_diag(*[recurrent] * copies)))
        source = name
    return Network(tuple(pops), tuple(projs))


def network_of(model: nn.Module, classifier: nn.Module | None = None) -> Network:
    """The :class:`Network` of a SPARSE encoder, a ``MultilayeredSpiking`` or a SpArch ``SNN``.

    Parameters
    ----------
    model : nn.Module
        :class:`~sparse.ASREncoder`, :class:`~sparse.KWSEncoder`,
        :class:`~sparse.MultilayeredSpiking` or :class:`~sparse.SNN`.
    classifier : nn.Module, optional
        The ASR recipe's vocabulary projection (a linear layer on the encoder output),
        counted as a dense stage at the CTC frame rate.

    Raises
    ------
    TypeError
        For a model without spiking neurons (e.g. a SpArch ``ANN``).
    """
    from .encoders.frontend import SpikingFrontEnd
    from .encoders.multilayer import MultilayeredSpiking
    from .models.sparch import SNN

    model = getattr(model, "module", model)
    if isinstance(model, SpikingFrontEnd):
        return _sparse_network(model, classifier)
    if isinstance(model, MultilayeredSpiking):
        return _multilayer_network(model)
    if isinstance(model, SNN):
        return _sparch_network(model)
    raise TypeError(f"no synaptic-operation model for {type(model).__name__}: it has no spiking "
                    "neurons (efficiency compares spiking networks with their ANN equivalent)")


def _valid_counts(x: Tensor, lengths: Tensor | None) -> tuple[Tensor, int]:
    """Per-feature sums of ``x`` ``(B, T, N)`` over valid steps ``(N,)`` and the valid steps."""
    batch, steps = x.shape[0], x.shape[1]
    if lengths is None:
        n_valid = torch.full((batch,), steps, device=x.device)
    else:
        n_valid = torch.round(lengths.to(x.device, torch.float64) * steps).long().clamp(0, steps)
    mask = torch.arange(steps, device=x.device)[None, :] < n_valid[:, None]
    summed = (x.detach().to(torch.float64) * mask[:, :, None]).sum(dim=(0, 1))
    return summed.cpu(), int(n_valid.sum())


def count_operations(
    spikes: Mapping[str, Tensor],
    network: Network,
    dt_ms: float,
    lengths: Tensor | None = None,
    duration_s: float | None = None,
    inputs: Tensor | None = None,
    energy: EnergyModel | None = None,
) -> Efficiency:
    """Count spikes, synaptic operations and neuron updates of one batch.

    Parameters
    ----------
    spikes : mapping of str to Tensor
        Spikes ``(B, T, N)`` of every spiking population of ``network``, by name.
    network : Network
        From :func:`network_of`.
    dt_ms : float
        Simulation step in ms.
    lengths : Tensor, optional
        ``(B,)`` relative lengths in ``[0, 1]`` (SpeechBrain's ``wav_lens``): steps past
        ``round(length * T)`` are padding and not counted. ``None``: all steps count.
    duration_s : float, optional
        Seconds of audio in the batch; default: the valid steps times ``dt_ms``.
    inputs : Tensor, optional
        ``(B, T, I)`` input of a network whose first projection comes from ``"input"``.
        Non-negative integer input (spike counts) is event-driven (an AC per event and
        synapse); any other input costs a MAC per effective synapse and step.
    energy : EnergyModel, optional
        Per-operation energies (default :class:`EnergyModel`).

    Returns
    -------
    Efficiency
        One row per population (and ``input`` and each dense stage, where present).
    """
    rows: dict[str, Row] = {}
    valid_steps = None
    counts: dict[str, Tensor] = {}
    for pop in network.populations:
        if pop.lif + pop.adlif:
            if pop.name not in spikes:
                raise KeyError(f"no spikes given for population {pop.name!r}; "
                               f"got {sorted(spikes)}")
            counts[pop.name], valid_steps = _valid_counts(spikes[pop.name], lengths)
    event_input = False
    if any(p.source == "input" for p in network.projections):
        if inputs is None:
            raise ValueError("this network is driven by its input: pass inputs=")
        event_input = bool(((inputs >= 0) & (inputs == inputs.round())).all())
        counts["input"], valid_steps = _valid_counts(inputs, lengths)
        rows["input"] = Row("input", inputs.shape[-1] if event_input else 0,
                            float(counts["input"].sum()) if event_input else 0.0)
    if valid_steps is None:
        raise ValueError("the network has no spiking population")
    for pop in network.populations:
        macs, acs = (sum(UPDATE_COST[kind][k] * getattr(pop, kind) for kind in UPDATE_COST)
                     for k in (0, 1))
        spikes_total = float(counts[pop.name].sum()) if pop.name in counts else 0.0
        rows[pop.name] = Row(pop.name, pop.size, spikes_total, 0.0, float(acs * valid_steps),
                             float(macs * valid_steps))
    for proj in network.projections:
        row = rows[proj.source]
        row.ann_macs += float(proj.dense_synapses) * valid_steps
        if proj.source == "input" and not event_input:
            row.snn_macs += float(proj.fan_out.sum()) * valid_steps
            continue
        ops = float((counts[proj.source] * proj.fan_out).sum())
        row.synaptic_ops += ops
        row.snn_acs += ops
    for stage in network.dense:
        macs = stage.macs_per_step * valid_steps
        rows[stage.name] = Row(stage.name, snn_macs=macs, ann_macs=macs)
    order = (["input"] if "input" in rows else []) + [p.name for p in network.populations]
    order += [s.name for s in network.dense]
    seconds = valid_steps * dt_ms / 1000.0 if duration_s is None else float(duration_s)
    return Efficiency(seconds, [rows[n] for n in order], energy or EnergyModel())
