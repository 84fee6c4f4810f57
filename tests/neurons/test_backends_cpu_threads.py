"""Threads of the compiled (Numba) loops of the ``cpu`` back-end.

The loops run on ``min(torch threads, batch, NUMBA_NUM_THREADS)`` threads and must
neither change PyTorch's own thread count nor give results that depend on
``NUMBA_NUM_THREADS``. Numba reads that variable once, at import, so the checks run in
subprocesses with different environments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("numba")

# One fwd+bwd twice (the second after Numba's threading layer has started, if it does) of
# an encoder on the compiled loops, with the torch thread count of argv[2]; saves every
# output and gradient, PyTorch's thread count afterwards and the Numba thread counts seen
# by the loops.
_SCRIPT = r"""
import json, sys
import torch
torch.set_num_threads(int(sys.argv[2]))
torch.get_num_threads()  # PyTorch sets its OpenMP count lazily, at the first use
from sparse.encoders import ASREncoder
from sparse.neurons.backends import cpu, cpu_compiled
assert cpu.USE_COMPILED
import numba
seen = []
kernels = cpu_compiled.load_kernels()
for name in ("scan_forward", "scan_backward", "scan_forward_serial", "scan_backward_serial"):
    kernel = getattr(kernels, name, None)
    if kernel is None:
        continue
    def spy(*args, _kernel=kernel, _name=name):
        seen.append([_name, None if _name.endswith("serial") else numba.get_num_threads()])
        return _kernel(*args)
    setattr(kernels, name, spy)
torch.manual_seed(0)
model = ASREncoder(dt=10.0, backend="cpu").train()
feats = torch.randn(4, 24, 80)
saved = {}
for rep in range(2):
    model.zero_grad(set_to_none=True)
    out, spikes = model(feats, return_spikes=True)
    (out.sum() + sum(s.sum() for s in spikes) * 1e-3).backward()
saved["out"] = out.detach()
saved.update({f"spikes{i}": s.detach() for i, s in enumerate(spikes)})
saved.update({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
torch.save(saved, sys.argv[1])
print(json.dumps({"torch_threads": torch.get_num_threads(), "kernels": seen}))
"""


def _run(tmp_path: Path, numba_threads: int, torch_threads: int) -> tuple[dict, dict]:
    """Run :data:`_SCRIPT` with ``NUMBA_NUM_THREADS``; its tensors and its JSON line."""
    out = tmp_path / f"numba{numba_threads}-torch{torch_threads}.pt"
    env = {**os.environ, "NUMBA_NUM_THREADS": str(numba_threads)}
    env.pop("OMP_NUM_THREADS", None)
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(out), str(torch_threads)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out, weights_only=True), json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("torch_threads", [1, 2])
def test_results_and_torch_threads_do_not_depend_on_numba_num_threads(tmp_path, torch_threads):
    """Same tensors, bit for bit, and PyTorch keeps its thread count, for 1-3 Numba threads.

    Numba's OpenMP layer used to start with ``omp_set_num_threads(NUMBA_NUM_THREADS)`` on
    PyTorch's own OpenMP runtime: after the first scan every PyTorch operation ran on
    ``NUMBA_NUM_THREADS`` threads, whatever ``torch.set_num_threads`` had said, and the
    gradients of the convolution and dense layers rounded differently.
    """
    runs = {n: _run(tmp_path, n, torch_threads) for n in (1, 2, 3)}
    expected, _ = runs[1]
    for n, (tensors, info) in runs.items():
        assert info["torch_threads"] == torch_threads, f"NUMBA_NUM_THREADS={n}"
        assert tensors.keys() == expected.keys()
        differing = [k for k in expected if not torch.equal(tensors[k], expected[k])]
        assert not differing, f"NUMBA_NUM_THREADS={n}: {differing}"
        # the loops ran on min(torch threads, batch, NUMBA_NUM_THREADS) threads
        planned = min(torch_threads, 4, n)
        assert info["kernels"], "the compiled loops did not run"
        for name, threads in info["kernels"]:
            if planned == 1:  # no parallel region: Numba's threading layer is never started
                assert name.endswith("serial"), f"{name} called for a plan of one thread"
            else:
                assert threads == planned, f"{name} ran on {threads} threads, not {planned}"
