"""Auditory nerve currents: the channels-last implementation equals the plain-permute one."""

import pytest
import torch
from torch import nn

from sparse import ASREncoder


def reference_currents(nerve, feats):
    """The original ``AuditoryNerve.currents``: NCHW convs and explicit permutes."""
    left, right = nerve._time_pads()
    x = feats.unsqueeze(1)  # (B, 1, T, F)
    for conv, norm in zip(nerve.convs, nerve.norms, strict=True):
        x = conv(nn.functional.pad(x, (0, 0, left, right)))  # (B, C, T', F')
        x = nerve.activation(norm(x.permute(0, 2, 3, 1)))  # (B, T', F', C)
        x = x.permute(0, 3, 1, 2)
    x = nerve.dropout(x.permute(0, 3, 1, 2))  # (B, F', C, T'): drop (utt, freq) planes
    return x.permute(0, 3, 1, 2).flatten(2)  # (B, T', F'*C), channel fastest


def make_nerve(channels, padding, dropout=0.5):
    torch.manual_seed(0)
    model = ASREncoder(num_mel_bins=24, auditory_channels=channels, auditory_kernel_size=(5, 3),
                       auditory_frequency_stride=[2] + [1] * (len(channels) - 1),
                       cortex_layer_sizes=[8], cortex_feedforward_portions=[1.0],
                       cortex_sfa_portions=[0.5], cortex_rnn_portions=[0.5],
                       time_padding=padding, dropout=dropout, dt=2.0)
    nerve = model.nerve
    with torch.no_grad():  # non-trivial LayerNorm affine, so a transposed (F', C) would show
        for norm in nerve.norms:
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    return nerve


@pytest.mark.parametrize("channels", [[3], [3, 4]])
@pytest.mark.parametrize("padding", ["upstream", "same"])
def test_currents_match_reference_in_eval(channels, padding):
    nerve = make_nerve(channels, padding).eval()
    feats = torch.randn(3, 17, 24)
    out = nerve.currents(feats)
    assert out.shape == (3, nerve.length(17), nerve.num_fibres)
    torch.testing.assert_close(out, reference_currents(nerve, feats), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels", [[3], [3, 4]])
@pytest.mark.parametrize("padding", ["upstream", "same"])
def test_currents_match_reference_in_train_with_same_dropout_and_gradients(channels, padding):
    nerve = make_nerve(channels, padding).train()
    feats = torch.randn(6, 17, 24)
    grads = []
    outs = []
    for fn in (nerve.currents, lambda f: reference_currents(nerve, f)):
        nerve.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        out = fn(feats)
        (out * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
        outs.append(out)
        grads.append([p.grad.clone() for p in nerve.parameters() if p.grad is not None])
    new, ref = outs
    torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-5)
    # the seed gives the same planes dropped; some but not all of them, so the check has teeth
    c = nerve.convs[-1].out_channels
    planes = new.detach().reshape(6, new.shape[1], -1, c).abs().sum(dim=(1, 3))  # (B, F')
    assert 0 < int((planes == 0).sum()) < planes.numel()
    assert len(grads[0]) == len(grads[1]) == 4 * len(channels)
    for g_new, g_ref in zip(*grads, strict=True):
        torch.testing.assert_close(g_new, g_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("training", [False, True])
def test_no_permuting_copies(training):
    """The point of the channels-last layout: conv outputs feed LayerNorm and the flatten as is."""
    nerve = make_nerve([3, 4], "upstream").train(training)
    seen = {}

    def keep(name):
        return lambda module, args, out: seen.setdefault(name, []).append(out)

    for conv in nerve.convs:
        conv.register_forward_hook(keep("conv"))
    nerve.dropout.register_forward_hook(keep("dropout"))
    out = nerve.currents(torch.randn(2, 11, 24))
    assert len(seen["conv"]) == 2
    assert all(y.permute(0, 2, 3, 1).is_contiguous() for y in seen["conv"])  # (B, T', F', C)
    assert out.data_ptr() == seen["dropout"][0].data_ptr()  # the flatten is a view


def test_state_dict_keys_and_shapes_unchanged():
    nerve = make_nerve([3, 4], "upstream")
    shapes = {k: tuple(v.shape) for k, v in nerve.state_dict().items()
              if not k.startswith("neurons.")}
    assert shapes == {
        "convs.0.weight": (3, 1, 5, 3), "convs.0.bias": (3,),
        "convs.1.weight": (4, 3, 5, 3), "convs.1.bias": (4,),
        "norms.0.weight": (11, 3), "norms.0.bias": (11, 3),
        "norms.1.weight": (9, 4), "norms.1.bias": (9, 4),
    }


@pytest.mark.parametrize("channels", [[3], [3, 4]])
def test_conv_weights_share_their_gradients_layout(channels):
    """DDP copies (and warns about) every gradient whose strides differ from its weight's."""
    nerve = make_nerve(channels, "upstream")
    nerve.currents(torch.randn(2, 12, 24)).sum().backward()
    for conv in nerve.convs:
        assert conv.weight.grad.stride() == conv.weight.stride()


def test_old_contiguous_checkpoints_load_into_channels_last_weights():
    nerve, other = make_nerve([3, 4], "upstream"), make_nerve([3, 4], "upstream")
    with torch.no_grad():
        for conv in other.convs:
            conv.weight.add_(torch.randn_like(conv.weight))
    state = {k: v.contiguous() for k, v in other.state_dict().items()}  # as saved before
    nerve.load_state_dict(state)
    for conv, source in zip(nerve.convs, other.convs, strict=True):
        assert torch.equal(conv.weight, source.weight)
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
