"""``python -m sparse.bench``: the engine table on a tiny problem (rows, not timings)."""

from __future__ import annotations

import re
import subprocess
import sys
import types

import pytest
import torch

from sparse import bench
from sparse.bench import peers, products, upstream
from sparse.bench.density import sweep_label
from sparse.bench.engine import DENSE_PRODUCTS, FLOOR, table_rows, workloads
from sparse.neurons import engine
from sparse.neurons.backends import spike_linear

ROW = re.compile(r"^\| ([\w/@%.-]+) \| ([\w-]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+x|-) \|$",
                 re.M)


def test_engine_table_has_every_row_and_leaves_the_registry_alone(capsys):
    before = (dict(engine.BACKENDS), list(engine.AUTO_ORDER))
    # 12 frames: the encoder's one CTC frame (20 spike steps at dt 2 ms, 8 from its padding)
    bench.main(["engine", "--steps", "12", "--batch", "1", "--repeats", "1",
                "--backends", "reference,cpu", "--workloads", "lif,radlif,encoder", "--no-peers"])
    out = capsys.readouterr().out
    rows = ROW.findall(out)
    got = {(wl, be) for wl, be, *_ in rows}
    rows_of = ("reference", "cpu") + ((DENSE_PRODUCTS,) if spike_linear.load_spike_kernels()
                                      else ())
    assert got == {(wl, be) for wl in ("lif", "radlif", "encoder") for be in rows_of
                   } | {("encoder", FLOOR)}
    assert "# encoder: share of active entries per population" in out
    assert all(float(t) > 0 for _, _, t, _, _ in rows)
    assert (dict(engine.BACKENDS), list(engine.AUTO_ORDER)) == before  # floor row unregistered


def test_speed_up_is_the_reference_time_over_the_row_time():
    rows = table_rows("radlif", {"reference": (1.2, 40.0), "cpu": (0.3, 8.25), "x": (2.4, 1.0)})
    assert rows == ["| radlif | reference | 1.2000 | 40.0 | 1.0x |",
                    "| radlif | cpu | 0.3000 | 8.2 | 4.0x |",
                    "| radlif | x | 2.4000 | 1.0 | 0.5x |"]
    with pytest.raises(KeyError, match="reference"):
        table_rows("lif", {"cpu": (0.3, 1.0)})


def _fake_module(monkeypatch, name: str, **attrs) -> None:
    parent = None
    for part in name.split("."):
        full = part if parent is None else f"{parent}.{part}"
        module = types.ModuleType(full)
        monkeypatch.setitem(sys.modules, full, module)
        if parent is not None:
            setattr(sys.modules[parent], part, module)
        parent = full
    for key, value in attrs.items():
        setattr(sys.modules[name], key, value)


class _LIFNode2(torch.nn.Module):
    """Like SpikingJelly 2.0's ``LIFNode``: no ``backend`` argument."""

    def __init__(self, tau: float, v_reset=None, step_mode: str = "s") -> None:
        super().__init__()

    def reset(self) -> None:
        pass

    def forward(self, x):
        return (x > 1).to(x.dtype) + 0 * x


class _BrokenLeaky:
    def __init__(self, **kwargs) -> None:
        raise AttributeError("module 'snntorch' has no attribute '_SpikeTensor'")


def test_peers_that_fail_are_skipped_with_the_reason(monkeypatch):
    _fake_module(monkeypatch, "snntorch", Leaky=_BrokenLeaky)
    _fake_module(monkeypatch, "spikingjelly.activation_based.neuron", LIFNode=_LIFNode2)
    said = []
    rows = peers.peer_rows(1, 3, torch.device("cpu"), report=said.append)
    assert list(rows) == ["lif/spikingjelly"]  # 2.0's LIFNode runs without backend=
    assert said == ["# lif/snntorch skipped: AttributeError: module 'snntorch' has no "
                    "attribute '_SpikeTensor'"]
    rows["lif/spikingjelly"]()()  # the maker gives a step that runs


def test_missing_peers_are_skipped(monkeypatch):
    for name in ("snntorch", "spikingjelly", "spikingjelly.activation_based"):
        monkeypatch.setitem(sys.modules, name, None)
    said = []
    assert peers.peer_rows(1, 3, torch.device("cpu"), report=said.append) == {}
    assert [line.split(":")[0] for line in said] == ["# lif/snntorch skipped",
                                                     "# lif/spikingjelly skipped"]
    assert all("not installed" in line for line in said)


def test_python_dash_m_runs_the_package():
    out = subprocess.run([sys.executable, "-m", "sparse.bench", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "python -m sparse.bench engine" in out.stdout


def test_sweep_encoders_fire_at_their_density():
    """Every population of a sweep row's encoder fires at the row's density."""
    step = workloads(1, 40, torch.device("cpu"))[sweep_label(0.04)]("cpu")
    step()  # a step runs
    assert all(abs(d - 0.04) < 0.01 for d in step.densities())


def test_products_table_has_a_ratio_per_product(capsys):
    pytest.importorskip("numba")
    ratios = products.main(["--rows", "40", "--inputs", "30", "--outputs", "20",
                            "--densities", "0.1", "--repeats", "1"])
    assert set(ratios) == {(30, 0.1, p) for p in ("forward", "weight", "input")}
    assert all(r > 0 for r in ratios.values())
    assert capsys.readouterr().out.count("| 30 | 0.1 |") == 3
    assert spike_linear.DENSE_ABOVE.forward < 1  # the limits are back


def test_upstream_needs_a_checkout(tmp_path):
    with pytest.raises(SystemExit, match="does not hold upstream's sparse/encoder_asr.py"):
        upstream.main(["--upstream", str(tmp_path)])
