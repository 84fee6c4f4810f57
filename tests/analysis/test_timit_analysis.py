"""End to end: a tiny TIMIT training run, then run_analysis.py on its checkpoint.

Asserts that every figure, the report, both tables and the log exist and parse, that the
report answers the speech-vs-noise question first and prints what was used where it differs
from what was asked, and that a missing checkpoint gives one clear error naming the training
command.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "recipes" / "TIMIT" / "sample"
TINY = [
    "--auditory_channels=[2]", "--cortex_layer_sizes=[16,16,16]", "--phoneme_features=16",
    "--hop_length=5", "--batch_size=2", "--num_workers=0", "--noprogressbar",
    "--concat_original=False", "--ckpt_interval_minutes=0",
]  # fmt: skip  # dt = 5 ms: 200 Hz population signals, low gamma (30-80 Hz) below Nyquist
FIGURES = [
    "parameters.png", "weights.png", "firing_rates.png", "raster_speech.png", "raster_noise.png",
    "filtered_populations_speech.png", "filtered_populations_noise.png",
    "pac_nerve_theta_cortex1_low_gamma.png", "pac_significance.png", "pac_conditions.png",
]  # fmt: skip


def run(script: str, yaml: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "recipes" / "TIMIT" / script), str(REPO / "hparams" / yaml)]
    return subprocess.run([*cmd, *args], cwd=REPO, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def data_args(tmp_path_factory) -> list[str]:
    """Manifests with the shortest bundled utterances (audio stays in the sample folder)."""
    folder = tmp_path_factory.mktemp("slice")
    for split, count in (("train", 4), ("dev", 2), ("test", 3)):
        manifest = json.loads((SAMPLE / f"{split}.json").read_text())
        keys = sorted(manifest, key=lambda k: float(manifest[k]["duration"]))[:count]
        (folder / f"{split}.json").write_text(json.dumps({k: manifest[k] for k in keys}))
    return [f"--data_folder={SAMPLE}", "--skip_prep=True",
            f"--train_annotation={folder / 'train.json'}",
            f"--valid_annotation={folder / 'dev.json'}",
            f"--test_annotation={folder / 'test.json'}", *TINY]


def test_analysis_without_checkpoint_names_the_training_command(tmp_path, data_args):
    out = tmp_path / "run"
    proc = run("run_analysis.py", "timit_analysis.yaml", *data_args, f"--output_folder={out}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "no trained checkpoint" in last and "run_training.py" in last
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # checked before anything is written; the empty save/ removed
    assert "torchvision" not in proc.stderr  # SpeechBrain's import-time warning is dropped


@pytest.mark.parametrize("override, message", [
    ("--n_surrogate=9", "unknown hyperparameter --n_surrogate (not a key of "
     "hparams/timit_analysis.yaml nor of its training YAML hparams/timit_train.yaml); "
     "did you mean --n_surrogates"),
    ("--hop_lenght=5", "unknown hyperparameter --hop_lenght (not a key of "
     "hparams/timit_analysis.yaml nor of its training YAML hparams/timit_train.yaml); "
     "did you mean --hop_length"),
    ("--split=dev2", "split must be one of train, dev, test, got 'dev2'"),
    ("--noise_control=pink", "noise_control must be one of ['features', 'spectrum', 'white']"),
])
def test_bad_overrides_name_the_right_file_and_leave_no_folder(tmp_path, override, message):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "recipes/TIMIT/run_analysis.py",
                           "hparams/timit_analysis.yaml", f"--output_folder={out}", override],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.startswith("run_analysis.py: error: " + message)
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.slow
def test_analysis_after_tiny_training_writes_every_figure_and_report(tmp_path, data_args):
    out = tmp_path / "run"
    train = run("run_training.py", "timit_train.yaml", *data_args, f"--output_folder={out}",
                "--number_of_epochs=1")
    assert train.returncode == 0, train.stderr[-3000:]
    proc = run("run_analysis.py", "timit_analysis.yaml", *data_args, f"--output_folder={out}",
               "--n_surrogates=99", "--figure_surrogates=199",
               "--figure_amplitude_population=cortex1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = out / "analysis"
    assert "\ntotal " in (folder / "efficiency.txt").read_text()  # operations and energy
    for name in FIGURES:
        image = matplotlib.image.imread(folder / name)
        assert image.ndim == 3 and min(image.shape[:2]) > 100, name
    with open(folder / "pac_significance.csv", newline="") as fin:
        rows = list(csv.DictReader(fin))
    populations = {r["phase_population"] for r in rows}
    assert {"waveform", "nerve", "cortex1", "cortex1 LIF", "cortex1 AdLIF", "all"} <= populations
    n_pairs = len(populations) * (len(populations) + 1) // 2
    bands = {(r["phase_band"], r["amplitude_band"]) for r in rows}
    assert len(bands) == 4  # high gamma (80-150 Hz) is above Nyquist at 200 Hz: dropped
    assert len(rows) == 2 * (3 + 1) * n_pairs * len(bands)  # conditions × (utts + group) × tests
    assert {r["condition"] for r in rows} == {"speech", "noise"}
    for key in ("p_mi", "p_mvl"):
        values = np.array([float(r[key]) for r in rows])
        assert np.all((values > 0) & (values <= 1)), key
    for r in rows:  # tests with a silent population are reported but left out of the FDR family
        for key in ("q_mi", "q_mvl"):
            if r["silent"] and r["utterance"] != "GROUP":
                assert r[key] == "" and r["significant_" + key[2:]] == ""
            elif not r["silent"]:
                assert 0 < float(r[key]) <= 1 and r["significant_" + key[2:]] in ("True", "False")
    for key in ("mi", "mvl"):
        assert np.isfinite([float(r[key]) for r in rows]).all()
    with open(folder / "pac_contrast.csv", newline="") as fin:
        contrast = list(csv.DictReader(fin))
    assert len(contrast) == n_pairs * len(bands)  # one row per population pair x band pair
    for r in contrast:
        for m in ("mi", "mvl"):
            assert int(r[f"n_utterances_{m}"]) <= 3
            if r[f"p_{m}"]:  # 3 utterances: 8 sign patterns, p >= 2/8
                assert 0.25 <= float(r[f"p_{m}"]) <= 1
                assert r[f"significant_{m}"] == "False"
    report = (folder / "pac_significance.txt").read_text()
    lines = report.splitlines()
    assert lines[2].startswith("QUESTION: does speech drive") and lines[3].startswith("ANSWER: NO")
    joined = " ".join(report.split())
    assert "smallest possible contrast p is 0.25 > alpha" in joined
    for section in ("SUMMARY", "USED, WHERE IT DIFFERS FROM WHAT WAS ASKED", "DEFINITIONS",
                    "CONTRAST", "GROUP TESTS", "PER-UTTERANCE TESTS"):
        assert any(line.startswith(section) for line in lines), section
    assert "num_utterances: 64 asked, 3 used" in joined
    assert "figure_surrogates: 199 asked, 178 shown" in joined  # all shifts of a 1.5-s utterance
    assert "dropped (above Nyquist 100 Hz): high_gamma" in joined
    assert "Levels. per-utterance:" in joined and "group: the mean over utterances" in joined
    log = (folder / "log.txt").read_text()
    assert "PAC tests: 3 utterances x 2 inputs" in log and "ANSWER: NO" in log


def _analysis_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "timit_run_analysis", REPO / "recipes" / "TIMIT" / "run_analysis.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_analysis_follows_the_training_runs_sample_rule(tmp_path, monkeypatch):
    """After training on --manifest_folder, the analysis is no sample run either."""
    import yaml

    monkeypatch.chdir(tmp_path)  # the training YAML's relative output folders land here
    load_both = _analysis_script().load_both
    plain = yaml.safe_load(re.sub(r"!\S+", "", (REPO / "hparams" / "timit_train.yaml").read_text()))
    analysis = str(REPO / "hparams" / "timit_analysis.yaml")
    _, train_hp, sample_mode, _ = load_both([analysis, "--manifest_folder=my_manifests"])
    assert not sample_mode and train_hp["data_folder"] == "my_manifests"
    assert train_hp["hop_length"] == plain["hop_length"]  # not the sample block's value
    assert not train_hp["output_folder"].endswith("_sample/1986")
    _, train_hp, sample_mode, _ = load_both([analysis])
    assert sample_mode and train_hp["data_folder"] == str(SAMPLE)
    assert train_hp["hop_length"] == plain["sample"]["hop_length"]
