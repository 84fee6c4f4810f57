"""Triton kernels against the reference: interpreted on CPU, compiled with ``--device cuda``.

``TRITON_INTERPRET=1`` must be set before Triton itself is imported (its own
``@jit`` helpers such as ``tl.max`` are decorated then), and the test session may
already have imported it (e.g. the doctest collector), so on CPU the cases run in
one child process started with the variable set. Shapes are small: the interpreter
executes every program in Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback

import pytest
import torch

pytest.importorskip("triton")

CASES = [
    dict(variant="sparse", recurrent=False, with_state=False, traces=False, surrogate="boxcar"),
    dict(variant="sparse", recurrent=False, with_state=True, traces=True, surrogate="triangle"),
    dict(variant="sparse", recurrent=True, with_state=True, traces=True,
         surrogate="fast_sigmoid"),
    dict(variant="sparch", recurrent=False, with_state=True, traces=True, surrogate="boxcar"),
    dict(variant="sparch", recurrent=True, with_state=False, traces=False, surrogate="triangle"),
    dict(variant="sparse", recurrent=False, steps=1, drive="saturated"),
    dict(variant="sparse", recurrent=False, with_state=True, traces=True, sfa_portion=0.0),
    dict(variant="sparch", recurrent=True, steps=3, sfa_portion=0.0),  # grad of final w = 0
    dict(variant="sparse", recurrent=True, steps=3, drive="silent"),
    dict(variant="sparch", recurrent=True, steps=3, drive="saturated", with_state=True,
         dtype=torch.float64),
]


def run_case(cfg: dict, device: torch.device) -> None:
    """Compare the Triton scan with the reference for one configuration."""
    from sparse.neurons.backends.testing import compare, make_case
    from sparse.neurons.backends.triton_ops import adlif_scan_triton

    cfg = dict(cfg)
    shape = dict(batch=2, steps=cfg.pop("steps", 4 if cfg.get("recurrent") else 7), n=20)
    gen = torch.Generator().manual_seed(21)
    cfg.setdefault("sfa_portion", 0.5)
    compare(make_case(gen, device=device, **shape, **cfg), adlif_scan_triton)


def _main() -> int:
    """Child-process entry point: run every case on CPU, report failures, exit 1 if any."""
    from sparse.neurons.backends.testing import compare_zero_adaptation
    from sparse.neurons.backends.triton_ops import adlif_scan_triton

    failed = 0
    for rec in (False, True):
        try:
            compare_zero_adaptation(adlif_scan_triton, recurrent=rec)
        except Exception:
            failed += 1
            print(f"FAILED zero adaptation (recurrent={rec})\n{traceback.format_exc()}")
    for cfg in CASES:
        try:
            run_case(cfg, torch.device("cpu"))
        except Exception:  # report every failing case, not only the first
            failed += 1
            print(f"FAILED {cfg}\n{traceback.format_exc()}")
    return 1 if failed else 0


def test_interpreted_kernels_match_reference(request):
    if request.config.getoption("--device") != "cpu":
        pytest.skip("runs the compiled kernels instead (test_compiled_kernels_match_reference)")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]


@pytest.mark.parametrize("cfg", CASES)
def test_compiled_kernels_match_reference(device, cfg):
    if device.type != "cuda":
        pytest.skip("compiled Triton kernels need --device cuda")
    run_case(cfg, device)


def test_custom_ops_have_fake_kernels():
    from torch._subclasses.fake_tensor import FakeTensorMode

    import sparse.neurons.backends.triton_ops  # noqa: F401  (registers the ops)

    with FakeTensorMode():
        x = torch.empty(2, 9, 4)
        p = torch.empty(4)
        s0 = x[:, 0]
        s, u, w, bits, w_last = torch.ops.sparse.adlif_fwd(x, p, p, p, p, None, s0, s0, s0,
                                                           1.0, True, False, 0)
    assert s.shape == u.shape == (2, 9, 4) and bits.dtype == torch.uint8 and w.numel() == 0
    assert w_last.shape == (2, 4)


if __name__ == "__main__":
    sys.exit(_main())
