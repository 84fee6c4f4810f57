"""Brain-style analysis of spiking encoders: population signals, PAC and its statistics.

Pure NumPy/SciPy functions (time on the last axis); plotting lives apart in
:mod:`sparse.analysis.plots` and the SpeechBrain analysis ``Brain`` in
:mod:`sparse.analysis.brain`, neither imported here.
"""

from .batch import PACTests, group_test, ordered_pairs, pac_tests, pac_tests_utterance
from .pac import mean_vector_length, modulation_index, preferred_phase
from .signals import AMPLITUDE_BANDS, BANDS, PHASE_BANDS, analytic, bandpass, decimate
from .signals import population_signal, zscore
from .stats import benjamini_hochberg, permutation_pvalue
from .surrogates import default_min_shift, draw_shifts, surrogate_pac_fft, surrogate_pac_loop

__all__ = [
    "AMPLITUDE_BANDS",
    "BANDS",
    "PHASE_BANDS",
    "PACTests",
    "group_test",
    "analytic",
    "bandpass",
    "benjamini_hochberg",
    "decimate",
    "default_min_shift",
    "draw_shifts",
    "mean_vector_length",
    "modulation_index",
    "ordered_pairs",
    "pac_tests",
    "pac_tests_utterance",
    "permutation_pvalue",
    "population_signal",
    "preferred_phase",
    "surrogate_pac_fft",
    "surrogate_pac_loop",
    "zscore",
]
