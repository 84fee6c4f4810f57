"""Triton kernels against the reference: interpreted on CPU, compiled with ``--device cuda``.

``TRITON_INTERPRET=1`` must be set before Triton itself is imported (its own
``@jit`` helpers such as ``tl.max`` are decorated then), and the test session may
already have imported it (e.g. the doctest collector), so on CPU the cases run in
one child process started with the variable set. Shapes are small: the interpreter
executes every program in Python. Without a GPU the kernels are also built ahead of time
for sm_90, which catches what only the compiler rejects.
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
    # recurrent kernels: every surrogate in both variants, T = 1, and drives that silence a
    # whole block of neurons ("inhibit": strongly negative input) so that forward tiles of
    # silent presynaptic rows and backward tiles of zero surrogate derivative are skipped
    dict(variant="sparse", recurrent=True, with_state=True, traces=True, surrogate="triangle",
         steps=6),
    dict(variant="sparch", recurrent=True, with_state=True, traces=True,
         surrogate="fast_sigmoid"),
    dict(variant="sparse", recurrent=True, steps=1, with_state=True, surrogate="triangle"),
    dict(variant="sparch", recurrent=True, steps=1, with_state=True, traces=True),
    dict(variant="sparse", recurrent=True, drive="saturated", with_state=True, traces=True),
    dict(variant="sparse", recurrent=True, steps=6, inhibit=(0, 16), traces=True),
    dict(variant="sparch", recurrent=True, steps=6, inhibit=(16, 20), with_state=True,
         surrogate="triangle"),
    dict(variant="sparse", recurrent=True, steps=6, inhibit=(16, 20), surrogate="fast_sigmoid"),
]
SHAPE = dict(batch=2, n=20)  # n = 20: one full and one partial block of 16 when interpreted


def make(cfg: dict, device: torch.device):
    """The :class:`~sparse.neurons.backends.testing.Case` of one configuration."""
    from sparse.neurons.backends.testing import make_case

    cfg = dict(cfg)
    steps = cfg.pop("steps", 4 if cfg.get("recurrent") else 7)
    inhibit = cfg.pop("inhibit", None)
    cfg.setdefault("sfa_portion", 0.5)
    case = make_case(torch.Generator().manual_seed(21), device=device, steps=steps, **SHAPE,
                     **cfg)
    if inhibit is not None:
        x = case.x.detach().clone()
        x[..., slice(*inhibit)] = -20.0
        case.x = x.requires_grad_()
    return case


def run_case(cfg: dict, device: torch.device) -> None:
    """Compare the Triton scan with the reference for one configuration."""
    from sparse.neurons.backends.testing import compare
    from sparse.neurons.backends.triton_ops import adlif_scan_triton

    compare(make(cfg, device), adlif_scan_triton)


def recurrent_paths(cfg: dict, block: int) -> set[str]:
    """Tile paths of the recurrent kernels that ``cfg`` takes, found from the reference.

    Forward k-blocks: "fwd skip" (no presynaptic spike), "fwd mixed" (some rows masked
    off), "fwd full". Backward j-blocks (steps with a successor): "bwd skip" (surrogate
    derivative zero on the whole block), "bwd mixed", "bwd full".
    """
    from sparse.neurons import functional as F
    from sparse.neurons.state import AdLIFState
    from sparse.neurons.surrogate import surrogate_grad

    case = make(cfg, torch.device("cpu"))
    state = None if case.state is None else AdLIFState(*case.state)
    with torch.no_grad():
        out = F.adlif_scan(case.x, case.params(), case.V, state, variant=case.variant,
                           return_traces=True)
    s0 = torch.zeros_like(out.spikes[:, 0]) if state is None else state.s
    s_prev = torch.cat([s0[:, None], out.spikes[:, :-1]], 1) != 0
    live = (surrogate_grad(out.u - case.threshold, case.surrogate) != 0)[:, :-1]
    paths = set()
    for name, flags in (("fwd", s_prev), ("bwd", live)):
        for k0 in range(0, flags.shape[-1], block):
            count = flags[..., k0:k0 + block].sum(-1).flatten().tolist()
            width = min(block, flags.shape[-1] - k0)
            paths |= {f"{name} " + ("skip" if c == 0 else "full" if c == width else "mixed")
                      for c in count}
    return paths


def _main() -> int:
    """Child-process entry point: run every case on CPU, report failures, exit 1 if any."""
    from sparse.neurons.backends import triton_ops
    from sparse.neurons.backends.testing import compare_zero_adaptation

    failed = 0
    # the cases must reach every tile path of the recurrent kernels, or they prove nothing
    assert triton_ops.BLOCK_REC == triton_ops.BLOCK_K
    paths = set().union(*(recurrent_paths(cfg, triton_ops.BLOCK_K) for cfg in CASES
                          if cfg.get("recurrent")))
    missing = {f"{d} {k}" for d in ("fwd", "bwd") for k in ("skip", "mixed", "full")} - paths
    if missing:
        failed += 1
        print(f"FAILED: no case takes the recurrent tile paths {sorted(missing)}")
    for rec in (False, True):
        try:
            compare_zero_adaptation(triton_ops.adlif_scan_triton, recurrent=rec)
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


GPU_BUILDS = [  # (kernel, float type, flags): every constexpr branch of the recurrent kernels
    ("adlif_fwd_ff", "fp32", dict(SPARSE=True, ADAPTIVE=True)),
    ("adlif_bwd_ff", "fp32", dict(SPARSE=False, ADAPTIVE=True, SURROGATE=2, HAS_GU=True,
                                  HAS_GW=True)),
    ("adlif_fwd_rec", "fp32", dict(SPARSE=True, ADAPTIVE=True)),
    ("adlif_fwd_rec", "fp32", dict(SPARSE=False, ADAPTIVE=False)),
    ("adlif_bwd_rec", "fp32", dict(SPARSE=True, ADAPTIVE=True, SURROGATE=0, HAS_GU=True,
                                   HAS_GW=False)),
    ("adlif_bwd_rec", "fp32", dict(SPARSE=False, ADAPTIVE=True, SURROGATE=1, HAS_GU=False,
                                   HAS_GW=True)),
    ("adlif_bwd_rec", "fp64", dict(SPARSE=False, ADAPTIVE=False, SURROGATE=2, HAS_GU=True,
                                   HAS_GW=True)),
]


@pytest.mark.parametrize(("name", "dtype", "flags"), GPU_BUILDS)
def test_kernels_compile_for_gpu(name, dtype, flags):
    """Ahead-of-time build for sm_90, no GPU needed.

    The interpreter runs programs that the compiler rejects (e.g. ``if`` branches that
    bind a name to different types), so the interpreted cases alone do not prove this.
    """
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("kernels are interpreted in this process")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    if "nvidia" not in triton.backends.backends:
        pytest.skip("Triton has no NVIDIA back-end here")
    from sparse.neurons.backends import triton_kernels as K
    from sparse.neurons.backends import triton_ops

    fn = getattr(K, name)
    rec = name.endswith("_rec")
    consts = dict(flags, BLOCK=triton_ops.BLOCK_REC if rec else triton_ops.BLOCK_FF)
    if rec:
        consts["BLOCK_K"] = triton_ops.BLOCK_K

    def kind(arg: str) -> str:
        if arg in consts:
            return "constexpr"
        if arg.endswith("_ptr"):
            return "*u8" if arg == "bits_ptr" else f"*{dtype}"
        return "fp32" if arg == "threshold" else "i32"  # as the launcher types a float, T, N

    src = ASTSource(fn, {arg: kind(arg) for arg in fn.arg_names}, consts)
    binary = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=triton_ops._opts(rec))
    assert binary.asm["cubin"]


if __name__ == "__main__":
    sys.exit(_main())
