"""A run killed with SIGKILL and started again with the same command ends as if never killed.

The Speech Commands KWS recipe on a slice of the bundled sample (a tiny encoder, 2 epochs of
5 batches, an intra-epoch checkpoint every 2 batches, augmentation, dropout and NewBob on) is
killed in the middle of an epoch, during validation, and while a checkpoint file is written;
each time the same command then finishes the run. Weights, optimiser and normaliser states,
``train_log.txt`` and the test report must equal those of an uninterrupted run, bit for bit.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "recipes" / "SpeechCommands" / "run_training.py"
KILLER = Path(__file__).with_name("kill_run.py")
RUN = [str(REPO / "hparams" / "speech_commands_train.yaml"), "--noprogressbar",
       "--number_of_epochs=2", "--ckpt_interval_minutes=0", "--ckpt_interval_steps=2"]
#: Checkpoint files compared between runs (tensors and plain values).
COMPARED = ("model", "normalize", "optimizer", "lr_annealing", "counter")


def _run(args: list[str], out: Path, kws_tiny) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, *args, *RUN, f"--output_folder={out}", *kws_tiny],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _checkpoints(out: Path) -> list[Path]:
    """The checkpoints left at the end (the best and the last), in epoch order."""
    folders = (out / "save").glob("CKPT+*")
    return sorted(folders, key=lambda folder: int((folder / "counter.ckpt").read_text()))


def _load(path: Path):
    if path.read_bytes()[:2] == b"PK":
        return torch.load(path, weights_only=True)
    return path.read_text()


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.fixture(scope="module")
def reference(tmp_path_factory, kws_tiny) -> Path:
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("resume") / "reference"
    done = _run([str(SCRIPT)], out, kws_tiny)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("point,resumes_in_epoch", [
    ("train:2:3", 2),             # mid-epoch: resumes from the checkpoint after batch 2
    ("valid:1:1", 1),             # validation: resumes after the last training checkpoint
    ("save:3:optimizer.ckpt", 1),  # the end-of-epoch checkpoint torn: set aside
], ids=["mid-epoch", "validation", "checkpoint-write"])
def test_killed_and_resumed_run_equals_the_uninterrupted_one(point, resumes_in_epoch, reference,
                                                             tmp_path, kws_tiny):
    out = tmp_path / "run"
    killed = _run([str(KILLER), point, str(SCRIPT)], out, kws_tiny)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    resumed = _run([str(SCRIPT)], out, kws_tiny)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    second = (out / "log.txt").read_text().split("Beginning experiment")[-1]
    assert re.search(r"Loading a checkpoint from .*CKPT\+", second), "did not resume"
    assert re.findall(r"Going into epoch (\d+)", second)[0] == str(resumes_in_epoch)
    if point.startswith("save"):
        assert list((out / "save").glob("incomplete-CKPT+*")), "torn checkpoint not set aside"

    assert (out / "train_log.txt").read_text() == (reference / "train_log.txt").read_text()
    assert (out / "test_accuracy.txt").read_text() == (reference / "test_accuracy.txt").read_text()
    kept, expected = _checkpoints(out), _checkpoints(reference)
    assert len(kept) == len(expected)
    for mine, theirs in zip(kept, expected, strict=True):
        for name in COMPARED:
            assert _same(_load(mine / f"{name}.ckpt"), _load(theirs / f"{name}.ckpt")), name
    for name in ("model.ckpt", "normalize.ckpt"):  # the exported model folder
        assert _same(*[_load(run / "model" / name) for run in (out, reference)]), name
