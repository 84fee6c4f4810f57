"""The model-agnostic side of the analysis: populations, the recording, no SpeechBrain."""

import subprocess
import sys

import numpy as np
import pytest

from sparse.analysis.recording import Populations, Recording, record_utterance


@pytest.mark.parametrize("module", ["sparse.analysis.figures", "sparse.analysis.report",
                                    "sparse.analysis.pipeline", "sparse.analysis.recording"])
def test_analysis_modules_do_not_import_speechbrain(module):
    code = (f"import sys, {module}; roots = {{m.split('.')[0] for m in sys.modules}}; "
            "print(sorted(roots & {'speechbrain', 'hyperpyyaml'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_brain_side_does_import_it():  # the check above can see an import
    code = "import sys, sparse.analysis.brain; print('speechbrain' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "True", done.stderr


def test_populations_from_masks_split_mixed_layers_only():
    pops = Populations.from_masks({"a": np.array([0, 1, 1, 0], bool), "b": np.zeros(3, bool),
                                   "c": np.ones(2, bool)}, dt_ms=4.0, lag=2)
    assert pops.trains == ("a", "b", "c") and pops.fs == 250.0 and pops.lag == 2
    assert {k: (t, i.tolist()) for k, (t, i) in pops.groups.items()} == {
        "a": ("a", [0, 1, 2, 3]), "a LIF": ("a", [0, 3]), "a AdLIF": ("a", [1, 2]),
        "b": ("b", [0, 1, 2]), "c": ("c", [0, 1])}
    assert pops.names == ["waveform", "a", "a LIF", "a AdLIF", "b", "c", "all"]


def test_record_utterance_drops_the_lag_counts_rates_in_hz_and_keeps_the_example():
    pops = Populations.from_masks({"x": np.array([0, 1], bool), "y": np.zeros(1, bool)},
                                  dt_ms=10.0, lag=2)
    rec = Recording.of(pops)
    x = np.zeros((12, 2))  # 2 lag steps + 8 frames + 2 padding steps
    x[2:10:2, 0] = 1  # neuron 0: 4 spikes in the 8 valid steps
    x[[0, 1, 10, 11], 1] = 1  # neuron 1: only in the lag and the padding: not counted
    y = np.zeros((12, 1))
    y[5, 0] = 1
    record_utterance(rec, pops, "speech", "u0", {"x": x, "y": y}, frames=8,
                     feats=np.arange(20.0).reshape(10, 2), outputs=np.ones(3))
    assert rec.ids == ["u0"] and rec.durations_s == [pytest.approx(0.08)]
    rates = rec.rates_hz["speech"]
    assert rates["x"][0].tolist() == pytest.approx([4 / 0.08, 0.0])  # 50 Hz, 0 Hz
    assert rates["x AdLIF"][0].tolist() == [0.0] and rates["y"][0].tolist() == [1 / 0.08]
    assert rec.silent["speech"][0] == {"x": False, "x LIF": False, "x AdLIF": True, "y": False,
                                       "all": False}
    signal = rec.signals["speech"][0]["x LIF"]
    assert signal.shape == (8,) and np.flatnonzero(signal > 0).tolist() == [0, 2, 4, 6]
    example = rec.examples["speech"]
    assert example.spikes["x"].dtype == np.uint8 and example.spikes["x"].shape == (8, 2)
    assert example.feats.shape == (8, 2) and example.waveform is None
    record_utterance(rec, pops, "speech", "u1", {"x": x, "y": y}, frames=8)
    assert rec.examples["speech"].id == "u0"  # only example_index 0 is kept whole


def test_a_model_without_speechbrain_or_encoder_is_analysed(tmp_path):
    """SpArch-like populations (layer1, layer2; no conv lag) recorded by hand, then analysed."""
    from sparse.analysis.pipeline import analyse

    rng = np.random.default_rng(0)
    pops = Populations.from_masks({"layer1": np.zeros(6, bool), "layer2": np.ones(4, bool)},
                                  dt_ms=4.0)
    rec = Recording.of(pops)
    for u in range(4):
        frames = 500 + 25 * u  # 2 s and more at 250 Hz
        for cond, p in (("speech", 0.2), ("noise", 0.1)):
            spikes = {n: (rng.random((frames, k)) < p).astype(np.float32)
                      for n, k in (("layer1", 6), ("layer2", 4))}
            record_utterance(rec, pops, cond, f"utt{u}", spikes, frames,
                             waveform=rng.standard_normal(4 * frames), sample_rate=1000.0,
                             feats=rng.standard_normal((frames, 8)), outputs=np.ones(3))
    cfg = {"n_surrogates": 49, "contrast_permutations": 99, "bootstrap_samples": 50,
           "figure_surrogates": 49, "dpi": 40, "amplitude_bands": ["low_gamma"],
           "figure_phase_population": "layer1", "figure_amplitude_population": "layer2"}
    files = analyse(rec, pops, cfg, tmp_path, "PAC report: a SpArch-like model", progress=False)
    names = sorted(f.name for f in files)
    assert "parameters.png" not in names and "weights.png" not in names  # no SPARSE encoder
    assert {"raster_speech.png", "firing_rates.png", "pac_layer1_theta_layer2_low_gamma.png",
            "pac_contrast.csv", "pac_significance.txt"} <= set(names)
    assert all(f.is_file() and f.stat().st_size > 0 for f in files)
    report = (tmp_path / "pac_significance.txt").read_text()
    assert report.startswith("PAC report: a SpArch-like model") and "ANSWER:" in report
