"""Every recipe family trains under ``torchrun --nproc_per_node=2 ... --device=cpu
--distributed_backend=gloo`` (TIMIT's run: ``test_timit_recipe.py``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def torchrun(script: str, hparams: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    """Two CPU processes of ``recipes/<script>`` on ``hparams/<hparams>`` (gloo)."""
    env = dict(os.environ, PYTHONFAULTHANDLER="1",  # a crashing rank prints its stacks
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(REPO / "recipes" / script), str(REPO / "hparams" / hparams),
               f"--output_folder={out}", "--device=cpu", "--distributed_backend=gloo",
               "--noprogressbar", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=240)


def _check(done: subprocess.CompletedProcess, out: Path, epochs: int) -> None:
    # torchrun's own report fills the tail; keep the ranks' error lines in the message too
    errors = [line for line in done.stderr.splitlines()
              if re.search(r"Error|error:|terminate|Fatal|Terminating|File \"", line)]
    assert done.returncode == 0, "\n".join(errors[:60]) + "\n...\n" + done.stderr[-1500:]
    log = (out / "train_log.txt").read_text()
    assert len(re.findall(r"^epoch: \d+", log, flags=re.MULTILINE)) == epochs
    assert "test accuracy" in log and (out / "model" / "model.ckpt").is_file()


@pytest.mark.slow
def test_speech_commands_kws_under_torchrun(tmp_path, kws_tiny):
    out = tmp_path / "kws"
    _check(torchrun("SpeechCommands/run_training.py", "speech_commands_train.yaml", out,
                    "--number_of_epochs=1", *kws_tiny), out, epochs=1)
    assert (out / "test_accuracy.txt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("script,hparams", [
    ("SHD/run_training.py", "shd_train.yaml"),
    ("SpeechCommands/run_sparch.py", "speech_commands_sparch.yaml"),
], ids=["SHD", "SpeechCommands"])
def test_sparch_recipes_under_torchrun(script, hparams, tmp_path):
    """The fixture and the manifests are written once, by the main process."""
    out = tmp_path / "sparch"
    _check(torchrun(script, hparams, out, "--number_of_epochs=1", "--nb_hiddens=8",
                    "--num_threads=1"), out, epochs=1)
