"""The ``cpu`` back-end against the reference loop: spikes identical, the rest within 1e-5.

Every test runs twice: with the compiled (Numba) loops and with the eager fallback.
"""

from __future__ import annotations

import itertools
import os
import random
import warnings
import zlib

import pytest
import torch

from sparse.neurons import engine
from sparse.neurons import functional as F
from sparse.neurons.backends import cpu, cpu_compiled, leaky
from sparse.neurons.backends.testing import (
    SURROGATE_NAMES,
    compare,
    compare_zero_adaptation,
    loss_weights,
    make_case,
    output_tensors,
    run,
)
from sparse.neurons.modules import AdLIFNeurons, ReadoutLayer
from sparse.neurons.state import AdLIFParameters, AdLIFState

SCAN = cpu.adlif_scan_cpu


@pytest.fixture(autouse=True, params=["compiled", "eager"])
def cpu_path(request, monkeypatch):
    """Run the test on the compiled loops and on the eager loop of the ``cpu`` back-end."""
    if request.param == "compiled":
        pytest.importorskip("numba")
    monkeypatch.setattr(cpu, "USE_COMPILED", request.param == "compiled")
    return request.param

# Every combination of the structural switches, with a shape, dt and drive drawn per case.
GRID = list(itertools.product(("sparse", "sparch"), (False, True), (False, True), (False, True)))


def _random_cases(count_per_combo: int):
    rng = random.Random(1234)
    for variant, rec, with_state, traces in GRID:
        for k in range(count_per_combo):
            yield pytest.param(
                dict(variant=variant, recurrent=rec, with_state=with_state, traces=traces,
                     batch=rng.choice([1, 2, 3]), steps=rng.choice([1, 2, 5, 17]),
                     n=rng.choice([1, 4, 9]), dt=rng.choice([0.5, 1.0, 2.0, 10.0]),
                     drive=rng.choice(["normal", "normal", "silent", "saturated"]),
                     sfa_portion=rng.choice([0.0, 0.5, 1.0]),
                     surrogate=rng.choice(SURROGATE_NAMES),
                     dtype=rng.choice([torch.float32, torch.float64])),
                id=f"{variant}-rec{int(rec)}-state{int(with_state)}-tr{int(traces)}-{k}",
            )


@pytest.mark.parametrize("cfg", list(_random_cases(4)))
def test_random_configurations_match_reference(cfg):
    gen = torch.Generator().manual_seed(zlib.crc32(str(sorted(cfg.items())).encode()))
    compare(make_case(gen, **cfg), SCAN)


@pytest.mark.parametrize("variant", ["sparse", "sparch"])
@pytest.mark.parametrize("drive", ["silent", "saturated"])
def test_edge_drives_long_sequence(variant, drive):
    gen = torch.Generator().manual_seed(7)
    case = make_case(gen, batch=2, steps=60, n=6, variant=variant, recurrent=True,
                     with_state=True, drive=drive, traces=True)
    compare(case, SCAN)


def test_all_firing_and_all_silent_are_really_so():
    gen = torch.Generator().manual_seed(3)
    hot = make_case(gen, batch=2, steps=8, n=5, drive="saturated")
    out = SCAN(hot.x, hot.params())
    assert out.spikes[:, 0].all()
    cold = make_case(gen, batch=2, steps=8, n=5, drive="silent")
    assert not SCAN(cold.x, cold.params()).spikes.any()


@pytest.mark.parametrize("surrogate", SURROGATE_NAMES)
def test_every_surrogate_float64_tight(surrogate):
    gen = torch.Generator().manual_seed(11)
    case = make_case(gen, batch=3, steps=25, n=7, dtype=torch.float64, recurrent=True,
                     with_state=True, surrogate=surrogate, traces=True)
    compare(case, SCAN, tol=1e-10)


def test_partial_requires_grad():
    """Only x, or only the parameters, require grad (inference-like and frozen-input cases).

    float64: recurrent float32 spikes may differ at rounding distance of the threshold.
    """
    gen = torch.Generator().manual_seed(5)
    case = make_case(gen, batch=2, steps=9, n=5, recurrent=True, dtype=torch.float64)
    x = case.x.detach().requires_grad_()
    ref = F.adlif_scan(x, case.params(), case.V)
    got = SCAN(x, case.params(), case.V)
    assert torch.equal(got.spikes, ref.spikes)
    g_ref = torch.autograd.grad(ref.spikes.sum(), [x, case.tau_u])
    g_got = torch.autograd.grad(got.spikes.sum(), [x, case.tau_u])
    for g, r in zip(g_got, g_ref, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)
    frozen = case.x.detach()
    leaves = [case.tau_w, case.V]
    g_got = torch.autograd.grad(SCAN(frozen, case.params(), case.V).spikes.sum(), leaves)
    g_ref = torch.autograd.grad(F.adlif_scan(frozen, case.params(), case.V).spikes.sum(), leaves)
    for g, r in zip(g_got, g_ref, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def test_no_grad_path_matches_and_records_nothing():
    gen = torch.Generator().manual_seed(9)
    case = make_case(gen, batch=2, steps=12, n=4, recurrent=True, with_state=True, traces=True,
                     dtype=torch.float64)
    with torch.no_grad():
        ref = F.adlif_scan(case.x, case.params(), case.V, AdLIFState(*case.state),
                           return_traces=True)
        got = SCAN(case.x, case.params(), case.V, AdLIFState(*case.state), return_traces=True)
    assert torch.equal(got.spikes, ref.spikes)
    torch.testing.assert_close(got.u, ref.u, rtol=1e-12, atol=1e-12)  # recurrent sum order
    assert got.spikes.grad_fn is None and got.u.grad_fn is None


def test_zero_steps_and_bad_arguments():
    p = AdLIFParameters(torch.full((3,), 0.9), torch.full((3,), 0.9), torch.zeros(3),
                        torch.zeros(3), 1.0)
    out = SCAN(torch.zeros(2, 0, 3), p, return_traces=True)
    assert out.spikes.shape == (2, 0, 3) and out.state.u.shape == (2, 3)
    with pytest.raises(ValueError, match="batch, time, neurons"):
        SCAN(torch.zeros(2, 3), p)
    with pytest.raises(ValueError, match="variant"):
        SCAN(torch.zeros(1, 2, 3), p, variant="nope")
    with pytest.raises(ValueError, match="surrogate"):
        SCAN(torch.zeros(1, 2, 3), p, surrogate="nope")


@pytest.mark.parametrize("rnn", [0.0, 0.5])
def test_module_parameters_get_reference_gradients(rnn):
    """float64, so that recurrent spikes are exact (float32: rounding may decide one)."""
    torch.manual_seed(0)
    layer = AdLIFNeurons(24, sfa_portion=0.5, rnn_portion=rnn, use_lateral_rnn=False,
                         dt=2.0).double()
    x = torch.rand(3, 40, 24, dtype=torch.float64) * 2
    results = {}
    for backend in ("reference", "cpu"):
        layer.backend = backend
        layer.zero_grad()
        spikes = layer(x)
        (spikes * torch.linspace(-1, 1, 24, dtype=torch.float64)).sum().backward()
        results[backend] = (spikes, {k: p.grad.clone() for k, p in layer.named_parameters()})
    assert torch.equal(results["cpu"][0], results["reference"][0])
    for name, g in results["reference"][1].items():
        torch.testing.assert_close(results["cpu"][1][name], g, rtol=1e-5, atol=1e-5, msg=name)


def test_leaky_integrator_matches_reference():
    torch.manual_seed(0)
    x = torch.randn(3, 30, 5, requires_grad=True)
    alpha = torch.rand(5).mul(0.2).add(0.75).requires_grad_()
    u0 = torch.randn(3, 5, requires_grad=True)
    w = torch.randn(3, 30, 5)
    ref = F.leaky_integrator_scan(x, alpha, u0)
    got = leaky.leaky_integrator_scan_cpu(x, alpha, u0)
    assert torch.equal(got, ref)
    g_ref = torch.autograd.grad((ref * w).sum(), [x, alpha, u0])
    g_got = torch.autograd.grad((got * w).sum(), [x, alpha, u0])
    for g, r in zip(g_got, g_ref, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)
    readout = ReadoutLayer(4, 3, backend="cpu")
    assert readout(torch.rand(2, 10, 4)).shape == (2, 1, 3)


def test_auto_prefers_cpu_off_cuda():
    assert engine.resolve_backend("auto", torch.device("cpu")).name == "cpu"
    assert engine.AUTO_ORDER.index("cpu") < engine.AUTO_ORDER.index("reference")


def test_mixed_dtypes_promote_like_the_reference():
    gen = torch.Generator().manual_seed(2)
    case = make_case(gen, batch=2, steps=6, n=4, dtype=torch.float64)
    x32 = case.x.detach().float()  # (the reference's recurrent product needs equal dtypes)
    ref = F.adlif_scan(x32, case.params())
    got = SCAN(x32, case.params())
    assert got.spikes.dtype == ref.spikes.dtype == torch.float64
    assert torch.equal(got.spikes, ref.spikes)


@pytest.mark.parametrize("recurrent", [False, True])
def test_zero_adaptation_still_gets_gradients(recurrent):
    compare_zero_adaptation(SCAN, recurrent=recurrent)


def test_compiled_path_is_taken_for_cpu_float_tensors(cpu_path):
    x = torch.zeros(1, 2, 3)
    kernels = cpu.compiled_kernels(x, 1.0)
    assert (kernels is not None) == (cpu_path == "compiled")
    assert cpu.compiled_kernels(x.half(), 1.0) is None  # other dtypes: eager loop
    assert cpu.compiled_kernels(x, torch.ones(3)) is None  # per-neuron thresholds: eager loop


@pytest.mark.parametrize("variant", ["sparse", "sparch"])
def test_non_binary_initial_spikes_reach_the_recurrent_current(variant):
    gen = torch.Generator().manual_seed(11)
    case = make_case(gen, batch=3, steps=7, n=10, variant=variant, recurrent=True,
                     with_state=True, traces=True)
    with torch.no_grad():
        case.state[2].copy_(torch.rand(3, 10, generator=gen))  # s_0 in [0, 1), not binary
    compare(case, SCAN)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("variant", ["sparse", "sparch"])
def test_wide_recurrent_layer_many_steps(variant, dtype):
    """Sizes where the compiled loop's summation order differs most from the matrix product.

    float64: spikes exact. float32: a row may part from the reference only at a spike
    within rounding of the threshold (``compare``). Stable dynamics: with SpArch's
    unstable couplings (a < -(1 - beta)) |u| reaches 1e12 in 80 steps and float32
    rounding, amplified as fast, decides spikes 0.08 away from the threshold.
    """
    gen = torch.Generator().manual_seed(12)
    case = make_case(gen, batch=4, steps=80, n=96, variant=variant, recurrent=True,
                     with_state=True, traces=True, dtype=dtype, stable=True)
    compare(case, SCAN)


def test_broken_numba_falls_back_to_the_eager_loop(monkeypatch):
    """A failing import of the compiled loops warns once and the scan still matches."""
    import sys

    from sparse.neurons import backends

    # None in sys.modules makes the import raise ImportError (as a broken Numba would)
    monkeypatch.setitem(sys.modules, "sparse.neurons.backends.cpu_kernels", None)
    monkeypatch.delattr(backends, "cpu_kernels", raising=False)
    monkeypatch.setattr(cpu, "USE_COMPILED", True)
    cpu_compiled.load_kernels.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="eager loop"):
            assert cpu.compiled_kernels(torch.zeros(1, 2, 3), 1.0) is None
        gen = torch.Generator().manual_seed(3)
        compare(make_case(gen, batch=2, steps=5, n=4, recurrent=True), SCAN)
    finally:
        monkeypatch.undo()
        cpu_compiled.load_kernels.cache_clear()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_after_the_loops_ran_still_computes(cpu_path):
    """GNU OpenMP threads do not survive a fork: Numba would end the child with SIGTERM.

    The parent runs the loops on two threads (Numba's threading layer starts). In the child,
    with two threads asked for, the guard must plan one thread and warn; the child then
    computes with PyTorch at one thread, because PyTorch's own GNU OpenMP pool (MKL's
    parallel matmul) does not survive the fork either and would hang the child.
    """
    gen = torch.Generator().manual_seed(5)
    case = make_case(gen, batch=3, steps=9, n=6, recurrent=True, with_state=True)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        compare(case, SCAN)  # the parent runs the loops first
    finally:
        torch.set_num_threads(previous)
    # Whether any test of this process launched the compiled loops' threads: the guard's
    # condition, whichever path this test runs on.
    launched = cpu_compiled._LAUNCH_PID is not None
    pid = os.fork()
    if pid == 0:  # child: report through the exit status only, never run pytest's teardown
        status = 1
        try:
            import numba

            forked_omp = launched and numba.threading_layer() == "omp"
            torch.set_num_threads(2)  # sets a number only: no parallel region starts here
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                planned = cpu_compiled.planned_threads(3)
            warned = any("forked" in str(w.message) for w in caught)
            status = 0 if warned == forked_omp else 3
            if forked_omp and planned != 1:
                status = 4
            torch.set_num_threads(1)
            compare(case, SCAN)  # the loops still compute the reference's values
        finally:
            os._exit(status)
    status = wait_for_child(pid, timeout_s=120.0)
    assert os.WIFEXITED(status), f"child ended by signal {os.WTERMSIG(status)}"
    assert os.WEXITSTATUS(status) == 0, "child computed wrong values, did not warn, or planned >1"


def wait_for_child(pid: int, timeout_s: float) -> int:
    """``os.waitpid`` with a deadline: a child still running then is killed and the test fails."""
    import signal
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not finish within {timeout_s:.0f} s (killed)")


def test_numba_compiler_debug_logs_stay_out_of_debug_log_files(cpu_path):
    """SpeechBrain logs the root logger at DEBUG into log.txt; Numba's passes must not fill it."""
    import logging

    if cpu_path != "compiled":
        pytest.skip("concerns the compiled path")
    root, numba_logger = logging.getLogger(), logging.getLogger("numba")
    levels = root.level, numba_logger.level
    try:
        root.setLevel(logging.DEBUG)
        numba_logger.setLevel(logging.NOTSET)  # as in a fresh process
        cpu_compiled.load_kernels.cache_clear()
        assert cpu.compiled_kernels(torch.zeros(1, 2, 3), 1.0) is not None
        assert logging.getLogger("numba.core.ssa").getEffectiveLevel() >= logging.WARNING
    finally:
        root.setLevel(levels[0])
        numba_logger.setLevel(levels[1])


def test_concurrent_python_threads_get_the_same_results():
    """Scans called from several Python threads at once (the compiled loops take turns)."""
    from concurrent.futures import ThreadPoolExecutor

    gen = torch.Generator().manual_seed(21)
    case = make_case(gen, batch=4, steps=30, n=24, recurrent=True)
    x, p, V = case.x.detach(), case.params(), case.V.detach()
    p = AdLIFParameters(*(t.detach() for t in p[:4]), p.threshold)
    expected = SCAN(x, p, V).spikes  # one thread; the oracle comparison is done elsewhere
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: SCAN(x, p, V).spikes, range(8)))
    assert all(torch.equal(r, expected) for r in results)


def test_results_do_not_depend_on_the_thread_count():
    """The compiled loops split the batch by threads; every row must come out bit-identical.

    Checked: outputs and the gradients the loops produce (input, decays, couplings). The
    recurrent-matrix and initial-spike gradients are MKL products, whose rounding may change
    with the thread count (as in the reference).
    """
    gen = torch.Generator().manual_seed(31)
    case = make_case(gen, batch=7, steps=40, n=70, recurrent=True, with_state=True, traces=True)
    weights = loss_weights(run(case, SCAN), torch.Generator().manual_seed(1))
    leaves = [case.x, case.tau_u, case.tau_w, case.a, case.b, case.state[0], case.state[1]]
    previous = torch.get_num_threads()
    outs = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            out = run(case, SCAN)
            loss = sum((o * w).sum() for o, w in zip(output_tensors(out), weights, strict=True))
            grads = torch.autograd.grad(loss, leaves)
            outs.append([t.detach() for t in (*output_tensors(out), *grads)])
    finally:
        torch.set_num_threads(previous)
    for other in outs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(outs[0], other, strict=True))
