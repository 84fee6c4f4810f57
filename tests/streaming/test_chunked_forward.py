"""Streaming is the offline forward with its state carried: chunks give the same bits.

Every spiking model of the package (:class:`~sparse.neurons.network.SpikingNetwork`) is fed a
padded batch of utterances of different lengths in chunks of 1 frame up to the whole input,
with every back-end that runs here, and must reproduce the spikes and outputs of the one-call
forward exactly (``torch.equal``), in inference (no gradient).
"""

from __future__ import annotations

import pytest
import torch

from sparse import SNN, ASREncoder, KWSEncoder, MultilayeredSpiking
from sparse.neurons.backends import cpu
from sparse.neurons.network import SpikingNetwork, set_backend

CHUNKS = [1, 2, 3, 7, 16, None]  # None: the whole input in one call


def _tiny(cls, **kwargs):
    return cls(num_mel_bins=12, auditory_channels=[3], auditory_kernel_size=[3, 3],
               cortex_layer_sizes=[10, 8], cortex_feedforward_portions=[1.0, 0.6],
               cortex_sfa_portions=[0.5, 0.5], cortex_rnn_portions=[0.5, 0.3], dt=10.0,
               **kwargs)


MODELS = {
    "asr-upstream": lambda: _tiny(ASREncoder, phoneme_features=6, phoneme_ctc_rate_hz=25.0),
    "asr-same-2conv": lambda: ASREncoder(
        num_mel_bins=12, auditory_channels=[3, 2], auditory_kernel_size=[5, 3],
        auditory_frequency_stride=[1, 2], cortex_layer_sizes=[9],
        cortex_feedforward_portions=[1.0], cortex_sfa_portions=[0.5],
        cortex_rnn_portions=[0.4], phoneme_features=5, phoneme_ctc_rate_hz=50.0, dt=5.0,
        time_padding="same", auditory_rnn_portion=0.2, auditory_sfa_portion=0.3),
    "kws": lambda: _tiny(KWSEncoder, readout_features=4, readout_reduction="mean"),
    "multilayer": lambda: MultilayeredSpiking(12, [10, 6], [0.5, 0.5], [0.5, 0.4], [1.0, 0.5],
                                              dt=10.0),
    "sparch-radlif": lambda: SNN((1, 1, 12), [9, 7, 4], "RadLIF"),
    "sparch-lif-no-readout": lambda: SNN((1, 1, 12), [9, 7], "LIF", use_readout_layer=False),
}
GAIN = {"sparch-radlif": 6.0, "sparch-lif-no-readout": 6.0}  # SpArch scales its drive by 1 - alpha


@pytest.fixture(params=["reference", "cpu-eager", "cpu-compiled"])
def backend(request, monkeypatch):
    if request.param == "reference":
        return "reference"
    monkeypatch.setattr(cpu, "USE_COMPILED", request.param == "cpu-compiled")
    return "cpu"


def _batch(features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three utterances of 41, 29 and 17 frames, zero-padded (lengths relative)."""
    lengths = [41, 29, 17]
    x = torch.randn(3, max(lengths), features) * 1.5 + 0.3
    for i, n in enumerate(lengths):
        x[i, n:] = 0.0
    return x, torch.tensor(lengths) / max(lengths)


def _chunked(model, x, chunk):
    outputs, spikes, state = [], [], None
    if chunk is None:
        return model.stream(x)
    steps = list(range(0, x.shape[1], chunk))
    for i, start in enumerate(steps):
        out = model.stream(x[:, start:start + chunk], state, end=i == len(steps) - 1)
        outputs.append(out.output)
        spikes.append(out.spikes)
        state = out.state
    return (torch.cat(outputs, 1), [torch.cat(s, 1) for s in zip(*spikes, strict=True)])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_chunks_reproduce_the_offline_forward_bit_for_bit(name, backend):
    model = set_backend(MODELS[name]().eval(), backend)
    assert isinstance(model, SpikingNetwork)
    x, _ = _batch(12)
    x = x * GAIN.get(name, 1.0)
    with torch.no_grad():
        offline = model.stream(x)
        assert sum(int(s.sum()) for s in offline.spikes) > 0  # something to compare
        for chunk in CHUNKS:
            output, spikes = _chunked(model, x, chunk)[:2]
            assert torch.equal(output, offline.output), (name, chunk)
            for got, want in zip(spikes, offline.spikes, strict=True):
                assert torch.equal(got, want), (name, chunk)


def _triton_main() -> int:
    """Child process (``TRITON_INTERPRET=1``): the same check with the Triton kernels on CPU."""
    from sparse.neurons.backends import triton_ops
    from sparse.neurons.engine import Backend, registered_backend

    interpreted = Backend("triton-interpreted", triton_ops.adlif_scan_triton, lambda device: True,
                          triton_ops.leaky_integrator_scan_triton)
    failed = 0
    with registered_backend(interpreted):
        for name in ("asr-same-2conv", "kws", "sparch-radlif"):
            torch.manual_seed(0)
            model = set_backend(MODELS[name]().eval(), interpreted.name)
            x = _batch(12)[0][:, :20] * GAIN.get(name, 1.0)
            with torch.no_grad():
                offline = model.stream(x)
                for chunk in (1, 6):
                    output, spikes = _chunked(model, x, chunk)
                    same = torch.equal(output, offline.output) and all(
                        torch.equal(a, b) for a, b in zip(spikes, offline.spikes, strict=True))
                    if not same:
                        failed += 1
                        print(f"FAILED {name} chunk {chunk}")
    return 1 if failed else 0


def test_triton_kernels_stream_bit_for_bit_too(request):
    pytest.importorskip("triton")
    import os
    import subprocess
    import sys

    if request.config.getoption("--device") != "cpu":
        pytest.skip("interpreted on CPU only")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


if __name__ == "__main__":
    import sys

    sys.exit(_triton_main())
