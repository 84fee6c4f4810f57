"""Fixtures shared by the recipe tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml


@pytest.fixture
def plant_torn_checkpoint() -> Callable[[Path, str], tuple[Path, Path]]:
    """A function ``(save, name) -> (whole, torn)`` that fakes a kill during saving.

    ``save`` must hold one checkpoint folder, ``whole``; ``torn`` is a copy of it made the
    newest (recovery would pick it) whose ``<name>.ckpt`` is cut to half its length.
    """

    def plant(save: Path, name: str) -> tuple[Path, Path]:
        (whole,) = save.glob("CKPT+*")
        torn = whole.with_name("CKPT+2099-01-01+00-00-00+00")
        shutil.copytree(whole, torn)
        meta = yaml.safe_load((torn / "CKPT.yaml").read_text())
        meta["unixtime"] += 1e6
        (torn / "CKPT.yaml").write_text(yaml.safe_dump(meta))
        data = (torn / f"{name}.ckpt").read_bytes()
        (torn / f"{name}.ckpt").write_bytes(data[: len(data) // 2])
        return whole, torn

    return plant


REPO = Path(__file__).resolve().parents[2]
SPEECH_COMMANDS = REPO / "recipes" / "SpeechCommands"

#: A small, fast SPARSE KWS model: the recipe's plumbing is under test, not its accuracy.
KWS_TINY = [
    "--n_mels=20",
    "--auditory_channels=[4]",
    "--cortex_layer_sizes=[32,32]",
    "--cortex_feedforward_portions=[1,1]",
    "--cortex_sfa_portions=[0.5,0.5]",
    "--cortex_rnn_portions=[0.5,0.5]",
    "--hop_length=10",
    "--batch_size=8",
    "--train_subset=0.05",
    "--eval_subset=0.1",
    "--num_threads=1",
]


@pytest.fixture(scope="session")
def kws_tiny() -> tuple[str, ...]:
    """Overrides of the Speech Commands KWS YAMLs for a tiny model on a slice of the data."""
    return tuple(KWS_TINY)


def run_speech_commands(script: str, hparams: str, args: list[str]) -> subprocess.CompletedProcess:
    """Run ``recipes/SpeechCommands/<script>`` on ``hparams/<hparams>`` as a user would."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, str(SPEECH_COMMANDS / script), str(REPO / "hparams" / hparams),
         "--noprogressbar", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="session")
def run_kws() -> Callable[[str, str, list[str]], subprocess.CompletedProcess]:
    """:func:`run_speech_commands`: ``run_kws(script, hparams, args)``."""
    return run_speech_commands
