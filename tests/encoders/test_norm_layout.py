"""Normalisation layers normalise over one flattened dimension (the CUDA layer-norm defect).

PyTorch's CUDA layer-norm backward mis-sizes the weight/bias gradients of a norm over several
trailing dimensions once more than 65,536 rows are normalised (see
:class:`sparse.encoders.frontend.FeatureMapLayerNorm`). Every norm of the package is therefore
called with a single normalised dimension; on CPU the flattened form gives the same results
bit for bit. The CUDA test runs with ``--device cuda`` only.
"""

import copy

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from sparse import ASREncoder, KWSEncoder, MultilayeredSpiking
from sparse.encoders.frontend import FeatureMapLayerNorm
from sparse.models.anns import ANN
from sparse.models.sparch import SNN

SMALL = dict(num_mel_bins=20, auditory_kernel_size=(5, 3), cortex_layer_sizes=[12, 10],
             cortex_feedforward_portions=[1, 1], cortex_sfa_portions=[0.5, 0.5],
             cortex_rnn_portions=[0.5, 0.5], dt=2.0)


def _pair(shape, **kwargs):
    """A plain nn.LayerNorm and a FeatureMapLayerNorm with the same non-trivial parameters."""
    plain = nn.LayerNorm(shape, **kwargs)
    with torch.no_grad():
        for p in plain.parameters():
            p.uniform_(-1.5, 1.5)
    flat = FeatureMapLayerNorm(shape, **kwargs)
    flat.load_state_dict(plain.state_dict())
    return plain, flat


@pytest.mark.parametrize("kwargs", [{}, {"bias": False}, {"elementwise_affine": False}])
@pytest.mark.parametrize("shape", [[7, 3], [2, 3, 4], [5]])
def test_flattened_norm_equals_layer_norm_bit_for_bit(shape, kwargs):
    plain, flat = _pair(shape, **kwargs)
    assert plain.state_dict().keys() == flat.state_dict().keys()
    assert all(a.shape == b.shape for a, b in zip(plain.parameters(), flat.parameters(),
                                                  strict=True))
    x = torch.randn(3, 11, *shape) * 4 + 1
    grad_out = torch.randn_like(x)
    results = []
    for norm in (plain, flat):
        xi = x.clone().requires_grad_(True)
        out = norm(xi)
        out.backward(grad_out)
        results.append([out, xi.grad, *(p.grad for p in norm.parameters())])
    assert len(results[0]) == 2 + len(list(plain.parameters()))
    for a, b in zip(*results, strict=True):
        assert a.shape == b.shape
        assert torch.equal(a, b)


def test_nerve_norms_keep_their_parameter_shapes_and_checkpoints():
    model = ASREncoder(**SMALL, auditory_channels=[3, 4], auditory_frequency_stride=[1, 1])
    old = {k: v.clone() for k, v in model.state_dict().items()}
    norms = model.nerve.norms
    assert [type(n) for n in norms] == [FeatureMapLayerNorm] * 2
    assert [tuple(n.weight.shape) for n in norms] == [(18, 3), (16, 4)]  # 20 - 3 + 1, 18 - 3 + 1
    # a checkpoint written when the norms were nn.LayerNorm([F', C]) loads unchanged
    fresh = ASREncoder(**SMALL, auditory_channels=[3, 4], auditory_frequency_stride=[1, 1])
    fresh.load_state_dict(old)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in old.items())


class _RecordNorms(TorchFunctionMode):
    """Records the normalised dimensions of every layer/group-norm call (and counts BN calls)."""

    def __init__(self):
        super().__init__()
        self.layer_norm_shapes, self.batch_norms, self.group_norms = [], 0, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is nn.functional.layer_norm:
            shape = args[1] if len(args) > 1 else kwargs["normalized_shape"]
            self.layer_norm_shapes.append(tuple(shape))
        elif func is nn.functional.batch_norm:
            self.batch_norms += 1
        elif func is nn.functional.group_norm:
            self.group_norms += 1
        return func(*args, **kwargs)


def _models():
    """Every module of the package that holds a norm, with an input batch."""
    mel = torch.rand(2, 30, 20)
    feats = torch.rand(2, 25, 6)
    yield "asr-1conv", ASREncoder(**SMALL, auditory_channels=[3]), mel
    yield "asr-2conv", ASREncoder(**SMALL, auditory_channels=[3, 2],
                                  auditory_frequency_stride=[1, 1]), mel
    yield "kws", KWSEncoder(**SMALL, auditory_channels=[3], readout_features=4), mel
    yield "cortex-ln", MultilayeredSpiking(6, [8, 8], [0.5, 0.5], [0.5, 0.5], [1, 1],
                                           normalization="layernorm"), feats
    for norm in ("layernorm", "batchnorm"):
        yield f"snn-{norm}", SNN((2, 25, 6), [8, 8, 3], "RadLIF", normalization=norm,
                                 bidirectional=True), feats
        for kind in ("MLP", "RNN", "LiGRU", "GRU"):
            yield f"ann-{kind}-{norm}", ANN((2, 25, 6), [8, 3], kind, normalization=norm), feats


def test_every_norm_of_the_package_normalises_one_dimension():
    """The audit of #17: no LayerNorm/GroupNorm over several dimensions reaches PyTorch."""
    seen_layer_norm = 0
    for name, model, x in _models():
        recorder = _RecordNorms()
        with recorder:
            out = model(x)
            out = out[0] if isinstance(out, tuple) else out
            out.sum().backward()
        assert recorder.group_norms == 0, name
        shapes = recorder.layer_norm_shapes
        assert all(len(s) == 1 for s in shapes), (name, shapes)
        # the check has teeth: each model ran some norm
        assert recorder.layer_norm_shapes or recorder.batch_norms, name
        seen_layer_norm += bool(recorder.layer_norm_shapes)
    assert seen_layer_norm >= 8
    # BatchNorm parameters are one-dimensional by construction
    for _, model, _ in _models():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
                assert module.weight.dim() == 1


def test_nerve_forward_backward_on_cuda_matches_cpu_float64(device):
    """More than 100k normalised rows through the paper-sized nerve, forward and backward.

    Before the fix this raised ``NativeLayerNormBackward0 returned an invalid gradient at index
    1 - got [16] but expected shape compatible with [74, 16]`` on CUDA.
    """
    if device.type != "cuda":
        pytest.skip("needs --device cuda")
    torch.manual_seed(0)
    model = ASREncoder(num_mel_bins=80, auditory_channels=[16], dropout=0.0, dt=2.0,
                       cortex_layer_sizes=[8], cortex_feedforward_portions=[1.0],
                       cortex_sfa_portions=[0.5], cortex_rnn_portions=[0.5])
    nerve = model.nerve
    with torch.no_grad():
        nerve.norms[0].weight.uniform_(0.5, 1.5)
        nerve.norms[0].bias.uniform_(-0.5, 0.5)
    batch, frames = 80, 1250
    rows = batch * nerve.length(frames)
    assert rows >= 100_000 and nerve.num_fibres == 74 * 16
    feats = torch.randn(batch, frames, 80, generator=torch.Generator().manual_seed(1))
    weights = torch.randn(nerve.num_fibres, generator=torch.Generator().manual_seed(2))

    def run(module, dev, dtype):
        module = copy.deepcopy(module).to(dev, dtype).train()
        x = feats.to(dev, dtype)
        currents = module.currents(x)
        spikes = module.neurons(currents)
        # currents alone exercise the norm; spikes add the nerve's surrogate gradients
        loss = (currents * weights.to(dev, dtype)).mean() + (spikes * weights.to(dev, dtype)).mean()
        loss.backward()
        return {name: p.grad.detach().to("cpu", torch.float64)
                for name, p in module.named_parameters() if p.requires_grad}

    # full-precision float32 convolutions (no TF32), so that float64 is a fair reference
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        got = run(nerve, device, torch.float32)
    ref = run(nerve, torch.device("cpu"), torch.float64)
    assert got.keys() == ref.keys()
    assert {"norms.0.weight", "norms.0.bias", "convs.0.weight"} <= got.keys()
    for name in ref:
        assert got[name].shape == ref[name].shape, name
        assert torch.isfinite(got[name]).all(), name
        # norm-wise relative error: float32 sums of 10^5 rows, and the odd spike that flips at
        # the threshold between float32 and float64, stay far below this
        err = (got[name] - ref[name]).norm() / ref[name].norm().clamp(min=1e-12)
        assert err < 1e-3, (name, float(err))
