"""Tiny trained models for the inference tests: one short real recipe run each, per session.

Each run is the recipe's own code path (training, test, export of ``<output_folder>/model``)
with a tiny network at 10 ms steps and one epoch on a slice of the bundled data: seconds.
Every test that uses one of these runs is marked ``slow`` (``pytest -m "not slow"`` skips it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMIT_SAMPLE = REPO / "recipes" / "TIMIT" / "sample"
FSDD = REPO / "recipes" / "SpeechCommands" / "sample_fsdd"
#: Fixtures that train a model by running a recipe.
RECIPE_RUNS = {"asr_run", "kws_run", "sparch_run"}


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` every test that needs a recipe run."""
    for item in items:
        if RECIPE_RUNS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


TINY_ASR = [
    "--auditory_channels=[2]", "--cortex_layer_sizes=[16,16,16]", "--phoneme_features=16",
    "--hop_length=10", "--batch_size=2", "--num_workers=0", "--concat_original=False",
    "--ckpt_interval_minutes=0", "--num_threads=1", "--number_of_epochs=1",
]  # fmt: skip
TINY_KWS = [
    "--n_mels=20", "--auditory_channels=[4]", "--cortex_layer_sizes=[32,32]",
    "--cortex_feedforward_portions=[1,1]", "--cortex_sfa_portions=[0.5,0.5]",
    "--cortex_rnn_portions=[0.5,0.5]", "--hop_length=10", "--batch_size=8",
    "--train_subset=0.05", "--eval_subset=0.1", "--num_threads=1", "--number_of_epochs=1",
]  # fmt: skip


def run_recipe(script: Path, hparams: str, args: list[str]) -> None:
    """Run a training recipe in a subprocess from the repository root; fail with its stderr."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(script), str(REPO / "hparams" / hparams), "--noprogressbar", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="session")
def asr_run(tmp_path_factory) -> Path:
    """Output folder of a one-epoch tiny TIMIT run on 4 + 2 + 2 bundled utterances."""
    root = tmp_path_factory.mktemp("asr")
    for split, count in (("train", 4), ("dev", 2), ("test", 2)):
        manifest = json.loads((TIMIT_SAMPLE / f"{split}.json").read_text())
        keys = sorted(manifest, key=lambda k: manifest[k]["duration"])[:count]
        (root / f"{split}.json").write_text(json.dumps({k: manifest[k] for k in keys}))
    out = root / "run"
    run_recipe(REPO / "recipes" / "TIMIT" / "run_training.py", "timit_train.yaml", [
        f"--data_folder={TIMIT_SAMPLE}", "--skip_prep=True",
        f"--train_annotation={root / 'train.json'}", f"--valid_annotation={root / 'dev.json'}",
        f"--test_annotation={root / 'test.json'}", f"--output_folder={out}", *TINY_ASR])
    return out


@pytest.fixture(scope="session")
def kws_run(tmp_path_factory) -> Path:
    """Output folder of a one-epoch tiny keyword-spotting run on 1/20 of the FSDD sample."""
    out = tmp_path_factory.mktemp("kws") / "run"
    run_recipe(REPO / "recipes" / "SpeechCommands" / "run_training.py",
               "speech_commands_train.yaml", [f"--output_folder={out}", *TINY_KWS])
    return out


@pytest.fixture(scope="session")
def speech_file() -> Path:
    """A bundled 16 kHz utterance (speechocean762 sample)."""
    return sorted((TIMIT_SAMPLE / "audio" / "test").glob("*.flac"))[0]


@pytest.fixture(scope="session")
def digit_file() -> Path:
    """A bundled FSDD digit ('eight', 8 kHz)."""
    return FSDD / "eight" / "george_nohash_0.flac"


@pytest.fixture(scope="session")
def sparch_run(tmp_path_factory):
    """``run(task, *overrides) -> output folder`` of a one-epoch tiny SpArch run (cached)."""
    import importlib.util

    runs: dict[tuple, Path] = {}

    def run(task: str, *extra: str) -> Path:
        if (task, extra) not in runs:
            script = REPO / "recipes" / task.upper() / "run_training.py"
            spec = importlib.util.spec_from_file_location(f"inference_{task.lower()}", script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            out = tmp_path_factory.mktemp(task.lower()) / "run"
            module.main([str(REPO / "hparams" / f"{task.lower()}_train.yaml"),
                         f"--output_folder={out}", "--number_of_epochs=1", "--nb_hiddens=8",
                         "--noprogressbar", "--device=cpu", *extra])
            runs[(task, extra)] = out
        return runs[(task, extra)]

    return run
