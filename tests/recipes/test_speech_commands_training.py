"""Short real runs of the Speech Commands training recipe on a slice of the bundled sample."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "SpeechCommands"
sys.path.insert(0, str(RECIPE))

TINY = [  # a small, fast model: the recipe's plumbing is under test, not its accuracy
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


def run(script: str, hparams: str, args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [
            sys.executable,
            str(RECIPE / script),
            str(REPO / "hparams" / hparams),
            "--noprogressbar",
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """Two epochs of a tiny model on 1/20 of the sample's training clips."""
    out = tmp_path_factory.mktemp("kws") / "run"
    proc = run(
        "run_training.py",
        "speech_commands_train.yaml",
        [f"--output_folder={out}", "--number_of_epochs=2", *TINY],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_short_run_on_the_sample(trained):
    out = trained
    assert list((out / "save").glob("CKPT+*/model.ckpt")), "no checkpoint written"
    log = (out / "train_log.txt").read_text()
    assert "valid accuracy:" in log and "test accuracy:" in log
    first = (out / "test_accuracy.txt").read_text().splitlines()[0]
    assert first.startswith("test accuracy: ") and first.endswith(")")
    labels = (out / "save" / "labels.txt").read_text().split()
    assert labels == [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
    ]
    png = out / "confusion_matrix.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analysis_of_the_short_run(trained):
    proc = run(
        "run_analysis.py",
        "speech_commands_analysis.yaml",
        [
            f"--output_folder={trained}",
            *TINY,
            "--num_utterances=2",
            "--n_surrogates=20",
            "--figure_surrogates=20",
            "--dpi=40",
        ],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    analysis = trained / "analysis"
    assert (analysis / "pac_significance.txt").is_file()
    assert "\ntotal " in (analysis / "efficiency.txt").read_text()  # operations and energy
    assert len(list(analysis.glob("*.png"))) >= 5


def test_bad_data_folder_is_one_clear_line(tmp_path):
    (tmp_path / "flat").mkdir()
    proc = run(
        "run_training.py",
        "speech_commands_train.yaml",
        [f"--output_folder={tmp_path / 'run'}", f"--data_folder={tmp_path / 'flat'}"],
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Speech Commands layout" in proc.stderr and "validation_list.txt" in proc.stderr


def test_load_clip_resamples_and_pads(tmp_path):
    pytest.importorskip("speechbrain")
    # by file path: another recipe's run_training.py may already be in sys.modules
    spec = importlib.util.spec_from_file_location("sc_run_training", RECIPE / "run_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    load_clip = module.load_clip

    path = tmp_path / "a.flac"
    sf.write(path, 0.5 * np.ones(4000, dtype=np.float32), 8000)
    clip = load_clip(str(path), 0, -1, sample_rate=16000, num_samples=16000)
    assert clip.shape == (16000,)
    assert clip[:7000].abs().min() > 0.4 and clip[8100:].abs().max() == 0
    window = load_clip(str(path), 1000, 3000, sample_rate=8000, num_samples=1500)
    assert window.shape == (1500,) and bool((window == 0.5).all())
