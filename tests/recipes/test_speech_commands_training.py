"""Short real runs of the Speech Commands training recipe on a slice of the bundled sample."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def trained(tmp_path_factory, run_kws, kws_tiny) -> Path:
    """Two epochs of a tiny model on 1/20 of the sample's training clips."""
    out = tmp_path_factory.mktemp("kws") / "run"
    proc = run_kws(
        "run_training.py",
        "speech_commands_train.yaml",
        [f"--output_folder={out}", "--number_of_epochs=2", *kws_tiny],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.slow
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
    run_log = (out / "log.txt").read_text()  # the figure's matplotlib DEBUG lines stay out
    assert "Epoch loaded" in log and " - matplotlib" not in run_log


@pytest.mark.slow
def test_analysis_of_the_short_run(trained, run_kws, kws_tiny):
    proc = run_kws(
        "run_analysis.py",
        "speech_commands_analysis.yaml",
        [
            f"--output_folder={trained}",
            *kws_tiny,
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


def test_bad_data_folder_is_one_clear_line(tmp_path, run_kws):
    (tmp_path / "flat").mkdir()
    proc = run_kws(
        "run_training.py",
        "speech_commands_train.yaml",
        [f"--output_folder={tmp_path / 'run'}", f"--data_folder={tmp_path / 'flat'}"],
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Speech Commands layout" in proc.stderr and "validation_list.txt" in proc.stderr


def test_the_recipe_reads_clips_with_the_polyphase_resampler(tmp_path):
    """Clips at another rate are resampled as before the loader moved (scipy's polyphase)."""
    import numpy as np
    import soundfile as sf
    import torch
    from scipy.signal import resample_poly

    from sparse.recipe.speech_commands import clip_pipeline

    path = tmp_path / "a.flac"
    wave = np.sin(np.linspace(0.0, 300.0, 4000)).astype(np.float32) * 0.5
    sf.write(path, wave, 8000, subtype="PCM_24")
    stored = sf.read(path, dtype="float32")[0]
    read = clip_pipeline({"sample_rate": 16000, "clip_samples": 16000})
    clip = read(str(path), "0", "-1")
    expected = np.zeros(16000, dtype=np.float32)
    expected[:8000] = resample_poly(stored, 2, 1).astype(np.float32)
    assert torch.equal(clip, torch.from_numpy(expected))
    window = read(str(path), "1000", "3000")  # start / stop in the file's own samples
    assert torch.equal(window[:4000], torch.from_numpy(
        resample_poly(stored[1000:3000], 2, 1).astype(np.float32)))
