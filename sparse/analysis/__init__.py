"""Brain-style analysis of spiking encoders: population signals, PAC and its statistics.

Pure NumPy/SciPy functions (time on the last axis) are re-exported here, among them the
paired speech-vs-noise contrast (:func:`paired_contrast`). Not imported here (matplotlib /
SpeechBrain): :mod:`.recording` (what is kept of a model's run: its named populations, ``dt``
and lag, and the population signals and rates of every utterance), :mod:`.report` (PAC tests
over a recording, CSV), :mod:`.report_text` (the text report), :mod:`.plots` (drawing, ax in,
ax out), :mod:`.figures` and :mod:`.figures_pac` (figure layouts), :mod:`.pipeline`
(:func:`~.pipeline.analyse`: tests, figures and report of a recording), none of which imports
SpeechBrain, and :mod:`.brain` (the SpeechBrain ``Brain`` that runs a SPARSE encoder, and
:func:`~.brain.run_analysis`, used by every recipe's ``run_analysis.py``).
"""

from .batch import (
    UTTERANCE_FPR,
    PACTests,
    group_test,
    ordered_pairs,
    pac_tests,
    pac_tests_utterance,
)
from .contrast import Contrast, paired_contrast
from .pac import mean_vector_length, modulation_index, preferred_phase
from .signals import (
    AMPLITUDE_BANDS,
    BANDS,
    PHASE_BANDS,
    analytic,
    bandpass,
    decimate,
    population_signal,
    zscore,
)
from .stats import benjamini_hochberg, permutation_pvalue
from .surrogates import (
    MinShift,
    default_min_shift,
    draw_shifts,
    min_shift,
    surrogate_pac_fft,
    surrogate_pac_loop,
)

__all__ = [
    "AMPLITUDE_BANDS",
    "BANDS",
    "PHASE_BANDS",
    "UTTERANCE_FPR",
    "Contrast",
    "MinShift",
    "PACTests",
    "group_test",
    "analytic",
    "bandpass",
    "benjamini_hochberg",
    "decimate",
    "default_min_shift",
    "draw_shifts",
    "mean_vector_length",
    "min_shift",
    "modulation_index",
    "ordered_pairs",
    "pac_tests",
    "pac_tests_utterance",
    "paired_contrast",
    "permutation_pvalue",
    "population_signal",
    "preferred_phase",
    "surrogate_pac_fft",
    "surrogate_pac_loop",
    "zscore",
]
