"""Synaptic operations and energy against networks small enough to count by hand."""

from __future__ import annotations

import pytest
import torch

from sparse import ASREncoder, KWSEncoder, MultilayeredSpiking
from sparse.efficiency import (
    EnergyModel,
    Network,
    Population,
    Projection,
    count_operations,
    network_of,
)
from sparse.models.anns import ANN
from sparse.models.sparch import SNN
from sparse.regularization import firing_rates

# Two populations: A (3 LIF) -> B (1 LIF + 1 AdLIF), B recurrent.
# W_AB = [[1, 0, 2], [0, 0, 3]] (out, in): A's neurons reach 1, 0 and 2 targets.
# V_B  = [[0, 1], [0, 0]]: B's neuron 1 reaches neuron 0, neuron 0 reaches nobody.
HAND = Network(
    (Population("A", lif=3), Population("B", lif=1, adlif=1)),
    (Projection("A", "B", torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64), 6),
     Projection("B", "B", torch.tensor([0.0, 1.0], dtype=torch.float64), 4)),
)
SPIKES_A = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0]]).float()[None]  # 2, 3, 1
SPIKES_B = torch.tensor([[1, 0], [0, 1], [0, 1], [0, 0]]).float()[None]  # 1, 2


def test_hand_counted_two_population_network():
    eff = count_operations({"A": SPIKES_A, "B": SPIKES_B}, HAND, dt_ms=10.0)
    a, b = eff.rows
    assert eff.duration_s == pytest.approx(0.04)  # 4 steps of 10 ms
    assert (a.spikes, b.spikes) == (6, 3)
    assert a.synaptic_ops == 2 * 1 + 3 * 0 + 1 * 2  # 4
    assert b.synaptic_ops == 1 * 0 + 2 * 1  # 2
    # neuron updates, 4 steps: LIF 1 MAC + 1 AC, AdLIF 4 MACs + 1 AC
    assert (a.snn_macs, a.snn_acs) == (12, 4 + 12)
    assert (b.snn_macs, b.snn_acs) == (20, 2 + 8)
    assert (a.ann_macs, b.ann_macs) == (24, 16)  # 6 and 4 dense synapses, 4 steps
    d = eff.to_dict()
    assert d["rows"][0]["rate_hz"] == pytest.approx(50.0)  # 6 spikes / 3 neurons / 0.04 s
    assert d["rows"][1]["rate_hz"] == pytest.approx(37.5)
    # 26 ACs * 0.9 pJ + 32 MACs * 4.6 pJ = 170.6 pJ; ANN 40 MACs * 4.6 pJ = 184 pJ
    assert eff.snn_energy_uj() == pytest.approx(170.6e-6)
    assert eff.ann_energy_uj() == pytest.approx(184e-6)
    assert d["total"]["snn_energy_uj_per_s"] == pytest.approx(170.6e-6 / 0.04)
    cheap = eff.with_energy(EnergyModel(ac_pj=1.0, mac_pj=2.0))
    assert cheap.snn_energy_uj() == pytest.approx((26 * 1.0 + 32 * 2.0) * 1e-6)
    assert "ANN / SNN energy: 1.08" in eff.format()


def test_padding_is_not_counted_and_counts_add_up():
    spikes_a = torch.cat([SPIKES_A, torch.ones(1, 4, 3)])  # 2nd example: half of it is padding
    spikes_b = torch.cat([SPIKES_B, torch.ones(1, 4, 2)])
    eff = count_operations({"A": spikes_a, "B": spikes_b}, HAND, 10.0,
                           lengths=torch.tensor([1.0, 0.5]))
    a, b = eff.rows
    assert a.spikes == 6 + 2 * 3 and b.spikes == 3 + 2 * 2
    assert a.synaptic_ops == 4 + 2 * (1 + 0 + 2)
    assert a.ann_macs == 6 * (4 + 2) and eff.duration_s == pytest.approx(0.06)
    single = count_operations({"A": SPIKES_A, "B": SPIKES_B}, HAND, 10.0)
    twice = single + single
    assert twice.duration_s == pytest.approx(0.08) and twice.rows[0].synaptic_ops == 8
    assert twice.to_dict()["total"] == pytest.approx(single.to_dict()["total"])


def test_missing_population_and_bad_energy_are_clear():
    with pytest.raises(KeyError, match="no spikes given for population 'B'"):
        count_operations({"A": SPIKES_A}, HAND, 10.0)
    with pytest.raises(ValueError, match="energies must be >= 0"):
        EnergyModel(ac_pj=-1.0)


def _two_layer_net() -> MultilayeredSpiking:
    net = MultilayeredSpiking(3, [2, 2], sfa_portions=[0.0, 1.0], rnn_portions=[0.0, 0.5],
                              ff_portions=[1.0, 1.0], dt=10.0)
    with torch.no_grad():
        net.layers[0].W.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]))
        net.layers[1].W.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))  # zeros: no synapse
        net.layers[1].neurons.rnn_mask.copy_(torch.tensor([[False, True], [False, False]]))
        net.layers[1].neurons.V.fill_(0.5)
    return net


def test_multilayer_fan_out_counts_masks_and_zero_weights():
    network = network_of(_two_layer_net())
    assert [(p.name, p.lif, p.adlif) for p in network.populations] == [
        ("layer1", 2, 0), ("layer2", 0, 2)]
    fan = {(p.source, p.target): p.fan_out.tolist() for p in network.projections}
    assert fan == {("input", "layer1"): [1, 0, 2], ("layer1", "layer2"): [1, 0],
                   ("layer2", "layer2"): [0, 1]}
    assert [p.dense_synapses for p in network.projections] == [6, 4, 4]


def test_real_valued_input_costs_macs_and_spike_input_costs_acs():
    network = network_of(_two_layer_net())
    quiet = {"layer1": torch.zeros(1, 5, 2), "layer2": torch.zeros(1, 5, 2)}
    dense = count_operations(quiet, network, 10.0, inputs=torch.full((1, 5, 3), 0.3))
    assert dense.rows[0].name == "input"
    assert (dense.rows[0].snn_macs, dense.rows[0].synaptic_ops) == (3 * 5, 0)  # 3 synapses
    events = torch.zeros(1, 5, 3)
    events[0, :, 2] = 2.0  # two events per step on channel 2 (2 synapses)
    sparse_in = count_operations(quiet, network, 10.0, inputs=events)
    assert (sparse_in.rows[0].snn_macs, sparse_in.rows[0].synaptic_ops) == (0, 2 * 5 * 2)
    assert sparse_in.rows[0].ann_macs == dense.rows[0].ann_macs == 6 * 5


def _tiny_front_end(cls, **kwargs):
    return cls(num_mel_bins=5, auditory_channels=[2], auditory_kernel_size=[3, 3],
               cortex_layer_sizes=[4], cortex_feedforward_portions=[1.0],
               cortex_sfa_portions=[0.5], cortex_rnn_portions=[0.0], dt=10.0, **kwargs)


def test_kws_encoder_network_by_hand():
    model = _tiny_front_end(KWSEncoder, readout_features=3, readout_reduction="mean")
    with torch.no_grad():
        model.cortex.layers[0].W.weight.fill_(1.0)
        model.cortex.layers[0].W.weight[:, 0] = 0.0  # fibre 0 reaches no cortical neuron
        model.readout.W.weight.fill_(1.0)
        model.readout.W.weight[0, 1] = 0.0
    network = network_of(model)
    # 5 mel bins, kernel 3 -> 3 bins x 2 channels = 6 LIF fibres; cortex 2 LIF + 2 AdLIF
    assert [(p.name, p.lif, p.adlif, p.integrator) for p in network.populations] == [
        ("nerve", 6, 0, 0), ("cortex1", 2, 2, 0), ("readout", 0, 0, 3)]
    fan = {(p.source, p.target): p.fan_out.tolist() for p in network.projections}
    assert fan == {("nerve", "cortex1"): [0, 4, 4, 4, 4, 4], ("cortex1", "readout"): [3, 2, 3, 3]}
    # conv per step: 3 output bins x 2 channels x (1 input channel x 3 x 3 kernel) = 54 MACs
    assert [(s.name, s.macs_per_step) for s in network.dense] == [("conv", 54.0)]


def test_asr_encoder_head_and_classifier_at_the_ctc_rate():
    from speechbrain.nnet.linear import Linear

    model = _tiny_front_end(ASREncoder, phoneme_num_layers=2, phoneme_features=3,
                            phoneme_ctc_rate_hz=25.0)
    network = network_of(model, classifier=Linear(input_size=3, n_neurons=5))
    pool = [p for p in network.projections if p.target == "pool"][0]
    assert pool.fan_out.tolist() == [1, 1, 1, 1] and pool.dense_synapses == 4
    # pool of 4 steps (10 ms, 25 Hz); head 4x3 + 3x3 = 21 weights, classifier 3x5 = 15, per frame
    assert [(s.name, s.macs_per_step) for s in network.dense] == [
        ("conv", 54.0), ("head", 21 / 4), ("classifier", 15 / 4)]


def test_sparch_bidirectional_recurrent_layer_by_hand():
    model = SNN((1, 1, 3), [2, 2], "RadLIF", bidirectional=True)
    layer, readout = model.snn
    with torch.no_grad():
        layer.W.weight.copy_(torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
        layer.V.weight.copy_(torch.tensor([[5.0, 7.0], [0.0, 9.0]]))  # s V: 0 -> 1 only
        readout.W.weight.fill_(1.0)
        readout.W.weight[:, 3] = 0.0
    network = network_of(model)
    assert [(p.name, p.adlif, p.integrator) for p in network.populations] == [
        ("layer1", 4, 0), ("readout", 0, 2)]
    fan = {(p.source, p.target): (p.fan_out.tolist(), p.dense_synapses)
           for p in network.projections}
    assert fan == {
        ("input", "layer1"): ([4, 0, 2], 12),  # both directions use W
        ("layer1", "layer1"): ([1, 0, 1, 0], 16),  # one recurrent block per direction
        ("layer1", "readout"): ([2, 2, 2, 0], 8),
    }


def test_rates_agree_with_firing_rates_on_a_real_forward():
    model = _tiny_front_end(KWSEncoder, readout_features=3).eval()
    with torch.no_grad():
        _, spikes = model(torch.randn(1, 60, 5) * 3, return_spikes=True)
    eff = count_operations(dict(zip(model.population_names, spikes, strict=True)),
                           network_of(model), dt_ms=10.0)
    rows = eff.to_dict()["rows"]
    assert rows[0]["spikes_per_s"] > 0  # the nerve fires
    for row, s in zip(rows, spikes, strict=False):
        assert row["rate_hz"] == pytest.approx(float(firing_rates(s, None, 10.0).mean()))


def test_non_spiking_models_are_refused():
    with pytest.raises(TypeError, match="no spiking neurons"):
        network_of(ANN((1, 1, 4), [3, 2], "GRU"))
