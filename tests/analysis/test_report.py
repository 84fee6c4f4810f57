"""Report, tables and PAC figures on a synthetic recording with coupling in speech only."""

import numpy as np
import pytest

from sparse.analysis.figures_pac import conditions_figure, contrast_figure, pair_matrix
from sparse.analysis.recording import Recording
from sparse.analysis.report import PACSettings, contrast_rows, csv_rows, run_pac
from sparse.analysis.report_text import smallest_contrast_p, text_report
from sparse.analysis.synthetic import coupled_signal

FS = 500.0
POPS = ["waveform", "nerve", "cortex1"]


def recording(n_utts: int, seed: int = 0) -> Recording:
    """Nerve carries theta → low-gamma coupling for speech only; cortex1 is silent in noise
    for the first utterance; the waveform is independent noise in both inputs."""
    rng = np.random.default_rng(seed)
    rec = Recording(fs=FS, populations=POPS)
    for u in range(n_utts):
        n = 1000 + 50 * u
        rec.ids.append(f"utt{u}")
        rec.durations_s.append(n / FS)
        for cond, coupling in (("speech", 0.8), ("noise", 0.0)):
            sig = {"waveform": rng.standard_normal(n),
                   "nerve": coupled_signal((n,), FS, rng, coupling=coupling).signal,
                   "cortex1": rng.standard_normal(n)}
            silent = {p: False for p in POPS}
            if cond == "noise" and u == 0:
                sig["cortex1"], silent["cortex1"] = np.zeros(n), True
            rec.signals[cond].append({k: (v - v.mean()) / (v.std() or 1) for k, v in sig.items()})
            rec.silent[cond].append(silent)
    return rec


@pytest.fixture(scope="module")
def tested():
    rec = recording(12)
    cfg = PACSettings(POPS, ["delta", "theta"], ["low_gamma"], n_surrogates=199, trim_s=0.1,
                      contrast_permutations=999, bootstrap_samples=200)
    return rec, cfg, run_pac(rec, cfg, np.random.default_rng(1), progress=False)


def test_contrast_finds_the_planted_pair_and_the_report_says_yes(tested):
    rec, cfg, run = tested
    mi = run.contrast["mi"]
    k = 3  # pairs (0,0) (0,1) (0,2) (1,1): nerve -> nerve
    assert mi.q[k, 1, 0] <= 0.05 and mi.tests.difference[k, 1, 0] > 0  # theta / low gamma
    assert mi.tests.n_utterances[5, 1, 0] == 11  # cortex1 -> cortex1: silent noise twin dropped
    report = text_report(rec, cfg, run, "header", notes=["num_utterances: 64 asked, 12 used"])
    lines = report.splitlines()
    assert lines[3].startswith("ANSWER: YES. Speech drives phase-amplitude coupling")
    assert "nerve -> nerve, theta/low_gamma" in " ".join(report.split()[:80])
    assert "num_utterances: 64 asked, 12 used" in report
    assert "minimum shift, delta: 2 s asked" in " ".join(report.split())
    assert "Silent populations, noise (share of utterances without a spike): cortex1 (8%)" in \
        " ".join(report.split())


def test_tables_have_one_row_per_test(tested):
    rec, cfg, run = tested
    rows = contrast_rows(cfg, run)
    assert len(rows) == 6 * 2  # 6 population pairs x 2 band pairs
    row = next(r for r in rows if r["phase_population"] == "nerve" and
               r["amplitude_population"] == "nerve" and r["phase_band"] == "theta")
    assert row["significant_mi"] == "True" and row["direction_mi"] == "speech>noise"
    assert float(row["ci_low_mi"]) > 0 and float(row["dz_mi"]) > 0
    within = csv_rows(rec, cfg, run)
    assert len(within) == 2 * (12 + 1) * 6 * 2
    assert {r["level"] for r in within} == {"utt", "group"}


def test_figures_draw_one_matrix_per_band_pair(tested):
    _, cfg, run = tested
    fig = contrast_figure(cfg, run)
    matrices = [ax for ax in fig.get_axes() if ax.images and ax.get_label() != "<colorbar>"]
    assert len(matrices) == 2 * 2  # metrics x (phase bands x amplitude bands)
    assert "speech > noise at q ≤ 0.05: Tort MI" in fig.get_suptitle()
    assert len(conditions_figure(cfg, run).get_axes()) >= 2 * 2 * 2


def test_pair_matrix_and_smallest_p():
    matrix = pair_matrix(np.arange(6.0), 3)  # pairs (0,0) (0,1) (0,2) (1,1) (1,2) (2,2)
    assert np.isnan(matrix[2, 0]) and matrix[1, 2] == 4 and matrix[2, 2] == 5
    assert smallest_contrast_p(3, 9999) == 0.25 and smallest_contrast_p(20, 999) == 1 / 1000
