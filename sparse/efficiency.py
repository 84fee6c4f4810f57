r"""Synaptic operations and energy of a spiking network, per population and per second of audio.

Pure functions over spike trains and a model's effective weights:

* :func:`network_of` asks a model for its :class:`Network` (the spiking-network protocol of
  :mod:`sparse.neurons.network`): its populations (neurons, how many are LIF / adaptive /
  non-spiking integrators), its projections (for every source neuron, the number of effective
  synapses leaving it: masks applied, zero weights not counted) and its dense, non-spiking
  stages (the nerve's convolution, the phoneme head, ...).
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

from .neurons.network import (
    DenseStage,
    Network,
    Population,
    Projection,
    SpikingNetwork,
    unwrap,
)

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


def network_of(model: nn.Module, classifier: nn.Module | None = None) -> Network:
    """The :class:`Network` of a spiking model: what its ``network()`` says.

    Parameters
    ----------
    model : nn.Module
        A :class:`~sparse.neurons.network.SpikingNetwork` (:class:`~sparse.ASREncoder`,
        :class:`~sparse.KWSEncoder`, :class:`~sparse.MultilayeredSpiking`, a SpArch
        :class:`~sparse.SNN`), or a ``DistributedDataParallel`` wrapper of one.
    classifier : nn.Module, optional
        A recipe's projection on the model's output (e.g. the ASR vocabulary layer), counted
        as a dense stage at the output rate (every ``network.output_steps`` steps).

    Raises
    ------
    TypeError
        For a model without spiking neurons (e.g. a SpArch ``ANN``).
    """
    model = unwrap(model)
    if not isinstance(model, SpikingNetwork):
        raise TypeError(f"no synaptic-operation model for {type(model).__name__}: it has no "
                        "spiking neurons (efficiency compares spiking networks with their ANN "
                        "equivalent)")
    network = model.network()
    if classifier is None:
        return network
    weight = [p for p in classifier.parameters() if p.dim() == 2][0]
    stage = DenseStage("classifier", weight.numel() / network.output_steps)
    return replace(network, dense=(*network.dense, stage))


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
