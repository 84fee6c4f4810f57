"""tools/gpu_check.sh without a GPU: its plan, step running, limits, summary and exit status.

The steps' real work (recipes, bench) needs a GPU and minutes; here a stand-in interpreter
plays the steps, and the layer-norm probe runs for real on a few rows of the CPU.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "gpu_check.sh"
STEPS = ["install", "probe", "pytest", "timit", "speechcommands", "sparch", "bench"]


def run_script(*args: str, env: dict | None = None, timeout: int = 120):
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


def test_dry_run_lists_every_step_within_eight_minutes(tmp_path):
    out = tmp_path / "never"
    done = run_script("--dry-run", env={"OUT": str(out)})
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert [row[0] for row in rows] == STEPS
    assert sum(int(row[1].rstrip("s")) for row in rows) <= 8 * 60
    plan = done.stdout
    assert "--device cuda " in plan and "--device=cuda:0" in plan
    assert "pip install --no-index --find-links" in plan
    assert "--batch_size=32" in plan and "--hop_length=2" in plan
    assert not out.exists()  # a dry run writes nothing
    cpu = run_script("--dry-run", "--cpu", "--steps", "timit,bench")
    assert [line.split()[0] for line in cpu.stdout.splitlines()[1:]] == ["timit", "bench"]
    assert "--device=cpu" in cpu.stdout and "cuda" not in cpu.stdout.split("\n", 1)[1]


@pytest.mark.parametrize("args,pattern", [(["--steps", "nope"], r"unknown step 'nope'"),
                                          (["--gpu"], r"unknown option --gpu")])
def test_bad_arguments_exit_2(args, pattern):
    done = run_script(*args)
    assert done.returncode == 2 and re.search(pattern, done.stderr)


def test_steps_run_with_limits_logs_and_a_summary(tmp_path):
    """A stand-in PYTHON: pip passes, the probe hangs past its limit, pytest fails."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho \"called with $*\"\n"
                    "case \"$*\" in *layer_norm_probe*) sleep 30;; *pytest*) exit 3;; esac\n")
    fake.chmod(0o755)
    out = tmp_path / "logs"
    done = run_script("--cpu", "--steps", "install,probe,pytest",
                      env={"PYTHON": str(fake), "OUT": str(out),
                           "GPU_CHECK_TIMEOUT_PROBE": "1"})
    assert done.returncode == 1, done.stdout + done.stderr
    summary = (out / "summary.txt").read_text()
    assert re.search(r"^install\s+PASS\b", summary, re.MULTILINE)
    assert re.search(r"^probe\s+TIMEOUT \(1s\)", summary, re.MULTILINE)
    assert re.search(r"^pytest\s+FAIL \(exit 3\)", summary, re.MULTILINE)
    assert summary.rstrip().endswith("SOME STEPS FAILED")
    assert "called with -m pip install --no-index" in (out / "install.log").read_text()
    assert "--device cpu tests/encoders" in (out / "pytest.log").read_text()
    passing = run_script("--cpu", "--steps", "install", env={"PYTHON": str(fake),
                                                           "OUT": str(tmp_path / "ok")})
    assert passing.returncode == 0 and "ALL PASSED" in passing.stdout


def test_layer_norm_probe_on_cpu():
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    done = subprocess.run([sys.executable, str(REPO / "tools" / "layer_norm_probe.py"),
                           "--device", "cpu", "--rows", "3000"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert re.search(r"flattened \(74\*16\) layer norm: gradients \(74, 16\).*OK", done.stdout)
    assert "plain nn.LayerNorm([74, 16]): gradients (74, 16)" in done.stdout
