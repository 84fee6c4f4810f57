"""Corpus data: readers of the SpArch tasks (SHD/SSC spike files, HD audio, Speech Commands
manifests) exported here; submodules :mod:`.timit` and :mod:`.speech_commands` (corpus
preparation), :mod:`.audio` (the one audio reader, and audio checked before training) and
:mod:`.noise` (generated noise) are imported by name."""

from .fixtures import make_hd_fixture, make_speech_commands_fixture, make_spike_fixture
from .hd import fbank_features, hd_datasets, manifest_datasets, parse_hd_name, read_audio_16k
from .shd import SpikeH5, bin_events, hold_out_speakers, spike_datasets, write_spike_h5

__all__ = ["SpikeH5", "bin_events", "fbank_features", "hd_datasets", "hold_out_speakers",
           "make_hd_fixture", "make_speech_commands_fixture", "make_spike_fixture",
           "manifest_datasets", "parse_hd_name", "read_audio_16k", "spike_datasets",
           "write_spike_h5"]
