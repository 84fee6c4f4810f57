"""SpArch ANN baselines: shapes, GRU equations, SpeechBrain LiGRU wiring, bidirectional."""

from __future__ import annotations

import pytest
import torch

from sparse.models.anns import ANN, GRULayer, LiGRULayer, RNNLayer


@pytest.mark.parametrize("ann_type", ["MLP", "RNN", "LiGRU", "GRU"])
def test_shapes_and_distribution(ann_type):
    model = ANN((3, 12, 7), [9, 9, 4], ann_type=ann_type, dropout=0.1)
    y, rates = model(torch.rand(3, 12, 7), lengths=torch.tensor([1.0, 0.5, 0.75]))
    assert y.shape == (3, 4) and rates is None
    assert torch.allclose(y.sum(-1), torch.ones(3))
    seq_model = ANN((3, 12, 7), [9, 4], ann_type=ann_type, use_readout_layer=False)
    seq, _ = seq_model(torch.rand(3, 12, 7))
    assert seq.shape == (3, 12, 4)


def test_mlp_cannot_be_bidirectional_and_unknown_type():
    with pytest.raises(ValueError, match="MLP layer cannot be bidirectional"):
        ANN((1, 1, 3), [4, 2], ann_type="MLP", bidirectional=True)
    with pytest.raises(ValueError, match="invalid ann_type 'LSTM'"):
        ANN((1, 1, 3), [4, 2], ann_type="LSTM")


def test_gru_first_two_steps_by_hand():
    layer = GRULayer(2, 2, normalization="none")
    x = torch.rand(1, 2, 2)
    y = layer(x)
    z1 = torch.sigmoid(layer.Wz(x[:, 0]))
    y1 = (1 - z1) * torch.tanh(layer.W(x[:, 0]))  # zero state: V (r * 0) = 0
    z2 = torch.sigmoid(layer.Wz(x[:, 1]) + layer.Vz(y1))
    r2 = torch.sigmoid(layer.Wr(x[:, 1]) + layer.Vr(y1))
    y2 = z2 * y1 + (1 - z2) * torch.tanh(layer.W(x[:, 1]) + layer.V(r2 * y1))
    assert torch.allclose(y[:, 0], y1, atol=1e-6) and torch.allclose(y[:, 1], y2, atol=1e-6)


def test_ligru_is_speechbrains_with_sparch_options():
    from speechbrain.nnet.RNN import LiGRU

    layer = LiGRULayer(5, 6, normalization="none", use_bias=True)
    assert isinstance(layer.ligru, LiGRU)
    cell = layer.ligru.rnn[0]
    assert isinstance(cell.norm, torch.nn.Identity) and cell.w.bias is not None
    assert "ligru.rnn.0.drop_masks" not in layer.state_dict()
    # SpArch LiGRU by hand, first step from a zero state: y1 = (1 - z) relu(a)
    x = torch.rand(2, 1, 5)
    a, z = cell.w(x[:, 0]).chunk(2, dim=-1)
    assert torch.allclose(layer(x)[:, 0], (1 - torch.sigmoid(z)) * torch.relu(a), atol=1e-6)


def test_bidirectional_uses_one_set_of_weights():
    bi = RNNLayer(3, 4, normalization="none", bidirectional=True)
    uni = RNNLayer(3, 4, normalization="none")
    uni.load_state_dict(bi.state_dict())
    x = torch.rand(2, 8, 3)
    out = bi(x)
    assert out.shape == (2, 8, 8)
    assert torch.allclose(out[..., :4], uni(x))
    assert torch.allclose(out[..., 4:], uni(x.flip(1)).flip(1))

